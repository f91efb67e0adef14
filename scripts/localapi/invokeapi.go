package localapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// maxInvokePayload is Lambda's limit for a synchronous invocation's request.
const maxInvokePayload = 6 << 20

// InvokeAPI serves the Lambda Invoke API for functions (by logical id), as
// `sam local start-lambda` does: POST
// /2015-03-31/functions/{name}/invocations with the event as the body, the
// function's answer as the response. The AWS SDK and CLI reach it through
// AWS_ENDPOINT_URL_LAMBDA (`aws lambda invoke --function-name
// RevokeFunction`, scripts/create-user). A function error is answered as
// Lambda does: 200 with X-Amz-Function-Error and the error as the body; an
// unknown function is 404 ResourceNotFoundException. Only
// RequestResponse invocations.
func InvokeAPI(functions map[string]Invoker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if !ok || !ok2 || r.Method != http.MethodPost || strings.Contains(name, "/") {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "only POST /2015-03-31/functions/{name}/invocations is served here")
			return
		}
		if t := r.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
			lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "only RequestResponse invocations are served locally")
			return
		}
		fn, ok := functions[name]
		if !ok {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
			return
		}
		payload, err := io.ReadAll(io.LimitReader(r.Body, maxInvokePayload+1))
		if err != nil || len(payload) > maxInvokePayload {
			lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "request payload too large or unreadable")
			return
		}
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		out, err := fn.Invoke(r.Context(), payload)
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		var fe *FunctionError
		switch {
		case errors.As(err, &fe):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			b, _ := json.Marshal(fe)
			w.Write(b)
		case err != nil:
			lambdaError(w, http.StatusBadGateway, "ServiceException", err.Error())
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(out)
		}
	})
}

func lambdaError(w http.ResponseWriter, status int, typ, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"Type": "User", "message": message})
	w.Write(b)
}
