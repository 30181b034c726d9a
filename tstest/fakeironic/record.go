package fakeironic

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
)

// statusRecorder remembers the status and error body written, for the
// request record.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status >= 400 {
		w.body = append(w.body, b...)
	}
	return w.ResponseWriter.Write(b)
}

// errorMessage is the faultstring of an error reply.
func (w *statusRecorder) errorMessage() string {
	if w.status < 400 {
		return ""
	}
	return ErrorMessage(w.body)
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// decodeField unmarshals m[key] into v; a missing key is an error.
func decodeField(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok {
		return fmt.Errorf("no %s in command_result", key)
	}
	return json.Unmarshal(raw, v)
}
