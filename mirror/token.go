package mirror

import (
	"github.com/svcmirror/svcmirror/remote"
)

// TokenState takes the token renewer's reports. A token that expired (the
// daemon was down past its life) is a credentials problem: /ready names it
// with what to do, and an InvalidCredentials Event says it once. A failed
// renewal, while the token still works, is an Event once. The expiry is a
// metric, so an alert can fire before it comes.
func (e *Engine) TokenState(s remote.TokenState) {
	expired := ""
	if s.Phase == remote.TokenExpired && s.Err != nil {
		expired = s.Err.Error()
	}
	e.tokenProblem.Store(&expired)
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.TokenExpiry(s.Expiry)
	}
	if s.Err == nil || (s.Phase != remote.TokenExpired && s.Phase != remote.TokenRenewFailed) {
		return
	}
	e.status.warn(e.conn.snapshot().LinkObj, "InvalidCredentials", s.Err.Error())
}
