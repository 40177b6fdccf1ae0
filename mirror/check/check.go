// Package check answers "is my link healthy?" for `svcmirror check`: it
// runs a fixed list of checks against the source cluster and, through the
// Link's own credentials, the target cluster, and reports a verdict for
// each with what is wrong and what to do.
//
// Each check is a small function over clients (fake clientsets in the unit
// tests). A check names the earlier checks whose results it needs; when one
// of those failed it is skipped instead of run, so one root cause shows as
// one failure rather than a cascade.
package check

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// Verdict is a check's result.
type Verdict string

const (
	// OK: nothing to do.
	OK Verdict = "ok"
	// Warn: the link works, but something deserves attention.
	Warn Verdict = "warn"
	// Fail: the link does not work as it should; Fix says what to do.
	Fail Verdict = "fail"
	// Skipped: not run, because a check it needs failed or because it does
	// not apply to this Link (Detail says which).
	Skipped Verdict = "skipped"
)

// Result is one check's outcome. Its JSON form is part of `svcmirror check
// -o json`'s documented output.
type Result struct {
	// Name identifies the check; names are stable (see Names).
	Name string `json:"name"`
	// Verdict is ok, warn, fail or skipped.
	Verdict Verdict `json:"result"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do about a warning or failure; empty otherwise.
	Fix string `json:"fix,omitempty"`
}

// Report is every check's outcome, in order.
type Report struct {
	// Link is "<namespace>/<name>".
	Link string `json:"link"`
	// Passed is true when no check failed (warnings allowed).
	Passed bool `json:"passed"`
	// Checks are the results in the order the checks ran.
	Checks []Result `json:"checks"`
}

// Failed returns the failed checks.
func (r Report) Failed() []Result {
	var out []Result
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Config is what the checks run against.
type Config struct {
	// Namespace and LinkName name the Link.
	Namespace, LinkName string
	// Local and Dynamic are clients of the source cluster.
	Local   kubernetes.Interface
	Dynamic dynamic.Interface
	// RemoteClient makes a client of the target cluster from the Link's
	// credentials; nil means kubernetes.NewForConfig. Tests return fakes.
	RemoteClient func(*rest.Config) (kubernetes.Interface, error)
	// HTTPClient probes the gateway; nil means a client without keep-alive,
	// so that each probe opens a fresh connection as the daemon's do.
	HTTPClient *http.Client
	// LookupIP resolves a gateway DNS name; nil means net.DefaultResolver.
	LookupIP func(ctx context.Context, host string) ([]net.IP, error)
	// Now is the clock for token and Lease expiry; nil means time.Now.
	Now func() time.Time
}

// Check names, in the order they run.
const (
	NameCRD             = "link-crd"
	NameLink            = "link"
	NameCredentials     = "credentials"
	NameRemoteAccess    = "remote-access"
	NameToken           = "token-expiry"
	NameLeader          = "leader"
	NameGateway         = "gateway-probe"
	NameMirrorEndpoints = "mirror-endpoints"
	NameOrphans         = "orphaned-mirrors"
)

// state carries what earlier checks found to later ones.
type state struct {
	cfg Config
	// link is the parsed Link, set by the link check.
	link *plan.Link
	// remoteConfig and remote reach the target cluster with the Link's
	// credentials, set by the credentials check.
	remoteConfig *rest.Config
	remote       kubernetes.Interface
}

func (s *state) now() time.Time { return s.cfg.Now() }

// step is one check: its name, the checks it needs, and the check itself.
type step struct {
	name  string
	needs []string
	run   func(ctx context.Context, s *state) Result
}

// steps is the order of the checks. Each needs only what it reads: the
// token's expiry is read even when the remote API rejects the token, since
// an expired token is then the likely reason, and the Lease is read even
// without a valid Link.
var steps = []step{
	{NameCRD, nil, checkCRD},
	{NameLink, []string{NameCRD}, checkLink},
	{NameCredentials, []string{NameLink}, checkCredentials},
	{NameRemoteAccess, []string{NameCredentials}, checkRemoteAccess},
	{NameToken, []string{NameCredentials}, checkToken},
	{NameLeader, nil, checkLeader},
	{NameGateway, []string{NameLink}, checkGateway},
	{NameMirrorEndpoints, []string{NameLink, NameRemoteAccess}, checkMirrorEndpoints},
	{NameOrphans, []string{NameLink, NameRemoteAccess}, checkOrphans},
}

// Names lists the checks in the order they run.
func Names() []string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.name
	}
	return names
}

// Run runs every check in order and reports them all; it never stops
// early, so one run shows every problem.
func Run(ctx context.Context, cfg Config) Report {
	if cfg.RemoteClient == nil {
		cfg.RemoteClient = func(c *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(c) }
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if cfg.LookupIP == nil {
		cfg.LookupIP = func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &state{cfg: cfg}
	report := Report{Link: cfg.Namespace + "/" + cfg.LinkName, Passed: true}
	// blocked maps each check that failed, or was skipped for a failure,
	// to the failed checks at the root of it, so that what needs it is
	// skipped in turn and says which failure to fix first.
	blocked := map[string][]string{}
	for _, st := range steps {
		var res Result
		if roots := blockedBy(st.needs, blocked); roots != nil {
			res = Result{Verdict: Skipped, Detail: "skipped because " + strings.Join(roots, " and ") + " failed"}
			blocked[st.name] = roots
		} else {
			res = st.run(ctx, s)
			if res.Verdict == Fail {
				blocked[st.name] = []string{st.name}
				report.Passed = false
			}
		}
		res.Name = st.name
		report.Checks = append(report.Checks, res)
	}
	return report
}

// blockedBy returns the root failures behind needs, without repeats.
func blockedBy(needs []string, blocked map[string][]string) []string {
	var roots []string
	for _, n := range needs {
		for _, r := range blocked[n] {
			if !slices.Contains(roots, r) {
				roots = append(roots, r)
			}
		}
	}
	return roots
}
