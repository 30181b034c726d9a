package fakeironic

import (
	"encoding/json"
	"net/http"
)

// writeError answers the way Ironic's API does: the WSME fault document
// serialized as a string inside {"error_message": ...}.
func writeError(w http.ResponseWriter, code int, msg string) {
	faultcode := "Client"
	if code >= 500 {
		faultcode = "Server"
	}
	inner, _ := json.Marshal(map[string]any{"faultcode": faultcode, "faultstring": msg, "debuginfo": nil})
	writeJSON(w, code, map[string]string{"error_message": string(inner)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
}

// ErrorMessage extracts the faultstring from an Ironic error body, for tests
// that check what an agent would log.
func ErrorMessage(body []byte) string {
	var outer struct {
		ErrorMessage string `json:"error_message"`
	}
	if json.Unmarshal(body, &outer) != nil {
		return ""
	}
	var inner struct {
		FaultString string `json:"faultstring"`
	}
	if json.Unmarshal([]byte(outer.ErrorMessage), &inner) != nil {
		return outer.ErrorMessage
	}
	return inner.FaultString
}
