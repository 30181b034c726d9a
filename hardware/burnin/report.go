package burnin

import (
	"encoding/json"
	"os"
)

// WriteReport writes a burn-in's report as JSON, as IPA has stress-ng and
// fio write theirs to the *_outputfile knobs.
func WriteReport(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
