package logs

import (
	"context"

	"github.com/goipa/goipa/ipa"
)

// Register adds log.collect_system_logs, which the conductor calls after a
// failed deploy (and always, with deploy_logs_collect=always).
func Register(r *ipa.Runner, c *Collector) {
	r.Register("log", "collect_system_logs", ipa.Sync(func(ctx context.Context, _ struct{}) (any, error) {
		b64, err := c.Archive(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]string{"system_logs": b64}, nil
	}))
}
