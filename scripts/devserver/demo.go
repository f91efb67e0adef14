package main

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DemoPath is where scripts/dev serves the demo page, on the API's own
// origin (a path no route of the template uses).
const DemoPath = "/demo/"

// demoFiles are the demo page's files: scripts/devserver/demo/, and the
// browser client itself from shared/web/ (the one copy apps take too).
func demoFiles(root string) map[string]string {
	dir := filepath.Join(root, "scripts", "devserver", "demo")
	return map[string]string{
		"":               filepath.Join(dir, "index.html"),
		"demo.js":        filepath.Join(dir, "demo.js"),
		"binding.js":     filepath.Join(dir, "binding.js"),
		"demo.css":       filepath.Join(dir, "demo.css"),
		"demo-mfa.js":    filepath.Join(dir, "demo-mfa.js"),
		"favicon.svg":    filepath.Join(dir, "favicon.svg"),
		"auth-client.js": filepath.Join(root, "shared", "web", "auth-client.js"),
	}
}

// withDemo serves the demo page under DemoPath and everything else through
// the gateway, untouched. The files are read on each request, so an edit
// shows on reload. The page may run only its own scripts and talk only to
// this origin (Content-Security-Policy): what an app using the client
// should do against XSS, which could otherwise use the session.
func withDemo(root string, gateway http.Handler) http.Handler {
	files := demoFiles(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(DemoPath, "/") {
			http.Redirect(w, r, DemoPath, http.StatusFound)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, DemoPath)
		if !ok {
			gateway.ServeHTTP(w, r)
			return
		}
		file, known := files[name]
		if !known || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, "demo page missing: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		switch path.Ext(file) {
		case ".html":
			h.Set("Content-Type", "text/html; charset=utf-8")
		case ".js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".css":
			h.Set("Content-Type", "text/css; charset=utf-8")
		case ".svg":
			h.Set("Content-Type", "image/svg+xml")
		}
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		w.Write(b)
	})
}
