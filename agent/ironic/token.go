package ironic

import "errors"

// ErrTokenLocked means Ironic already handed the agent token out ("******")
// and this agent has none: it cannot authenticate commands and must lock down.
var ErrTokenLocked = errors.New("ironic: agent token already handed out and none is known; refusing to run unauthenticated")

// maskedToken is what lookup returns once the token has been retrieved.
const maskedToken = "******"

// minTokenLen is the shortest token accepted from a lookup; Ironic makes
// 43-character ones.
const minTokenLen = 32

// ResolveToken decides the agent token after a lookup. current is the token
// already held (a previous lookup or ipa-agent-token), fromLookup is
// config.agent_token.
func ResolveToken(current, fromLookup string) (string, error) {
	switch {
	case len(fromLookup) >= minTokenLen:
		return fromLookup, nil
	case fromLookup == maskedToken && current == "":
		return "", ErrTokenLocked
	default:
		// Masked with a token on file, or empty or too short to trust.
		return current, nil
	}
}
