package ironic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ErrHeartbeatConflict: Ironic refused a heartbeat because the node is locked (409).
var ErrHeartbeatConflict = errors.New("ironic: heartbeat conflict, node locked")

// HeartbeatRequest is what a heartbeat tells Ironic. Fields the API version
// does not accept are left out of the request.
type HeartbeatRequest struct {
	CallbackURL   string
	AgentToken    string
	AgentVersion  string
	AgentVerifyCA string // PEM of the agent's auto-generated certificate, if any
}

type heartbeatBody struct {
	CallbackURL   string  `json:"callback_url"`
	AgentToken    *string `json:"agent_token,omitempty"`
	AgentVersion  *string `json:"agent_version,omitempty"`
	AgentVerifyCA string  `json:"agent_verify_ca,omitempty"`
}

// Heartbeat posts one heartbeat for node nodeUUID. Any 2xx is success; 409
// wraps ErrHeartbeatConflict; other failures are transport errors or *StatusError.
func (c *Client) Heartbeat(ctx context.Context, nodeUUID string, req HeartbeatRequest) error {
	v := capVersion(c.MaxVersion(ctx), VersionAgentVerifyCA)
	body := heartbeatBody{CallbackURL: req.CallbackURL}
	if v.AtLeast(VersionAgentToken) {
		body.AgentToken = &req.AgentToken
	}
	if v.AtLeast(VersionAgentVersion) {
		body.AgentVersion = &req.AgentVersion
	}
	if v.AtLeast(VersionAgentVerifyCA) {
		body.AgentVerifyCA = req.AgentVerifyCA
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/heartbeat/"+url.PathEscape(nodeUUID), nil, &v, body)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	switch {
	case resp.status >= 200 && resp.status < 300:
		return nil
	case resp.status == http.StatusConflict:
		return fmt.Errorf("%w: %w", ErrHeartbeatConflict, resp.statusError())
	default:
		return fmt.Errorf("heartbeat: %w", resp.statusError())
	}
}
