package localapi

import (
	"net/url"
	"strings"
)

// match finds the route API Gateway would choose for method and path
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html):
// a full match beats a greedy {proxy+} match (the longest prefix wins
// among those), a route of the method beats ANY, and $default takes what
// nothing else matches. It returns nil when no route matches (404).
func match(routes []Route, method, path string) (*Route, map[string]string) {
	var best *Route
	var bestParams map[string]string
	bestScore := -1
	for i := range routes {
		r := &routes[i]
		if r.Path == "$default" || (r.Method != "ANY" && r.Method != method) {
			continue
		}
		params, score, ok := matchPath(r.Path, path)
		if !ok {
			continue
		}
		score *= 2
		if r.Method != "ANY" {
			score++
		}
		if score > bestScore {
			best, bestParams, bestScore = r, params, score
		}
	}
	if best != nil {
		return best, bestParams
	}
	for i := range routes {
		if routes[i].Path == "$default" {
			return &routes[i], nil
		}
	}
	return nil, nil
}

// matchPath matches a route path with {name} and a final {name+} against a
// request path. The score ranks matches: literal segments count most, a
// greedy match least.
func matchPath(pattern, path string) (map[string]string, int, bool) {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	ss := strings.Split(strings.TrimPrefix(path, "/"), "/")
	params := map[string]string{}
	score := 1000 // a full match
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i >= len(ss) || ss[i] == "" {
				return nil, 0, false
			}
			params[p[1:len(p)-2]] = unescape(strings.Join(ss[i:], "/"))
			return params, i, true // greedy: longer literal prefix wins
		}
		if i >= len(ss) {
			return nil, 0, false
		}
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			if ss[i] == "" {
				return nil, 0, false
			}
			params[p[1:len(p)-1]] = unescape(ss[i])
		case p != ss[i]:
			return nil, 0, false
		default:
			score++
		}
	}
	if len(ss) != len(ps) {
		return nil, 0, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, score, true
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
