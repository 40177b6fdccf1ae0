package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

// crdName is the Link CRD, Linkerd's and ours.
const crdName = plan.LinkResource + "." + plan.LinkGroup

// checkCRD: the Link CRD is installed and serves the version svcmirror
// reads. Discovery answers this for any authenticated user, where reading
// the CRD object itself would need cluster-wide rights.
func checkCRD(_ context.Context, s *state) Result {
	gv := plan.LinkGroup + "/" + plan.LinkVersion
	fix := "install the CRD: kubectl apply -f manifests/crd-link.yaml (or Linkerd's multicluster extension)"
	list, err := s.cfg.Local.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		if versions := servedVersions(s, plan.LinkGroup); len(versions) > 0 {
			return Result{Verdict: Fail,
				Detail: fmt.Sprintf("%s serves %s but not %s, the version svcmirror reads", crdName, strings.Join(versions, ", "), plan.LinkVersion),
				Fix:    "upgrade the CRD: kubectl apply -f manifests/crd-link.yaml"}
		}
		return Result{Verdict: Fail, Detail: fmt.Sprintf("the CRD %s is not installed", crdName), Fix: fix}
	}
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("the source cluster's API server does not answer: %v", err),
			Fix: "check --kubeconfig and --context"}
	}
	for _, r := range list.APIResources {
		if r.Name == plan.LinkResource {
			return Result{Verdict: OK, Detail: fmt.Sprintf("%s serves %s", crdName, plan.LinkVersion)}
		}
	}
	return Result{Verdict: Fail, Detail: fmt.Sprintf("%s has no resource %q", gv, plan.LinkResource), Fix: fix}
}

// servedVersions lists the versions the API server serves for group.
func servedVersions(s *state, group string) []string {
	groups, err := s.cfg.Local.Discovery().ServerGroups()
	if err != nil {
		return nil
	}
	var out []string
	for _, g := range groups.Groups {
		if g.Name == group {
			for _, v := range g.Versions {
				out = append(out, v.Version)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkLink: the Link exists and plan.ParseLink accepts it.
// TODO(lead): ParseLink moves to mirror/plan with the same name.
func checkLink(ctx context.Context, s *state) Result {
	ref := s.cfg.Namespace + "/" + s.cfg.LinkName
	obj, err := s.cfg.Dynamic.Resource(plan.LinkGVR).Namespace(s.cfg.Namespace).Get(ctx, s.cfg.LinkName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Link %s does not exist", ref),
			Fix: "create it (`svcmirror link` on the target cluster prints one), or pass the right --link and --namespace"}
	}
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("reading Link %s: %v", ref, err), Fix: "check that you may get Links in " + s.cfg.Namespace}
	}
	link, err := plan.ParseLink(obj)
	if err != nil {
		detail := err.Error()
		var invalid *plan.InvalidLinkError
		if errors.As(err, &invalid) {
			detail = fmt.Sprintf("Link %s is invalid: %s", ref, strings.Join(invalid.Problems, "; "))
		}
		return Result{Verdict: Fail, Detail: detail, Fix: "fix the fields named, then `kubectl apply` the Link again"}
	}
	s.link = link
	gateway := "no gateway (flat network only)"
	if len(link.GatewayAddresses) > 0 {
		gateway = fmt.Sprintf("gateway %s port %d", strings.Join(link.GatewayAddresses, ","), link.GatewayPort)
	}
	detail := fmt.Sprintf("target cluster %s, %s", link.TargetClusterName, gateway)
	if link.DeletionRequested {
		return Result{Verdict: Warn, Detail: detail + "; the Link is being deleted",
			Fix: "the daemon removes its mirrors, then its finalizer; if no daemon runs, remove the finalizer svcmirror.io/cleanup-mirrors by hand"}
	}
	return Result{Verdict: OK, Detail: detail}
}

// remoteTimeout bounds each request to the target cluster, so that an
// address that drops packets reports instead of hanging the check.
const remoteTimeout = 10 * time.Second

// checkCredentials: the credentials Secret exists and holds a usable
// kubeconfig, as the daemon reads it.
func checkCredentials(ctx context.Context, s *state) Result {
	name := s.link.ClusterCredentialsSecret
	ref := s.cfg.Namespace + "/" + name
	fix := "write the Secret with the kubeconfig `svcmirror link` prints for the target cluster (key " + remote.KubeconfigKey + ")"
	secret, err := s.cfg.Local.CoreV1().Secrets(s.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Secret %s (spec.clusterCredentialsSecret) does not exist", ref), Fix: fix}
	}
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("reading Secret %s: %v", ref, err), Fix: "check that you may get Secrets in " + s.cfg.Namespace}
	}
	data, ok := secret.Data[remote.KubeconfigKey]
	if !ok {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Secret %s has no key %q", ref, remote.KubeconfigKey), Fix: fix}
	}
	cfg, err := remote.ConfigFromKubeconfig(data, 5, 10)
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Secret %s: %v", ref, err), Fix: fix}
	}
	cfg.Timeout = remoteTimeout
	client, err := s.cfg.RemoteClient(cfg)
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Secret %s: no client for its kubeconfig: %v", ref, err), Fix: fix}
	}
	s.remoteConfig, s.remote = cfg, client
	return Result{Verdict: OK, Detail: fmt.Sprintf("Secret %s holds a kubeconfig for %s", ref, cfg.Host)}
}

// checkRemoteAccess: the target's API server answers through the Link's
// credentials and grants exactly what the daemon needs, by a
// SelfSubjectRulesReview. It is asked in the namespace of the token's
// ServiceAccount, where a renewal permission for it would be granted; the
// review also shows cluster-wide grants there, which is where the Service
// and EndpointSlice permissions must be, since exports can be in any
// namespace.
func checkRemoteAccess(ctx context.Context, s *state) Result {
	host := s.remoteConfig.Host
	namespace, account := s.cfg.Namespace, ""
	if claims, err := remote.DecodeToken(s.remoteConfig.BearerToken); err == nil {
		if ns, name, ok := claims.ServiceAccount(); ok {
			namespace, account = ns, name
		}
	}
	review, err := s.remote.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx,
		&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}, metav1.CreateOptions{})
	switch {
	case apierrors.IsUnauthorized(err):
		return Result{Verdict: Fail, Detail: fmt.Sprintf("the target's API server at %s rejects the credentials (401 Unauthorized)", host),
			Fix: "the token is invalid, expired or its ServiceAccount is gone: make new credentials with `svcmirror link` and update the Secret"}
	case err != nil:
		return Result{Verdict: Fail, Detail: fmt.Sprintf("the target's API server at %s does not answer a SelfSubjectRulesReview: %v", host, err),
			Fix: "check that the kubeconfig's server address is reachable from here and from the source cluster's pods"}
	}
	rules := review.Status.ResourceRules
	if lacking := missing(rules, requiredRemote); len(lacking) > 0 {
		return Result{Verdict: Fail,
			Detail: fmt.Sprintf("the credentials may not %s in the target cluster", joinPermissions(lacking)),
			Fix:    "grant them cluster-wide to the credentials' identity (manifests/rbac-remote.yaml)"}
	}
	allowed := append(append(slices.Clone(requiredRemote), everyoneMay...), tokenRenewal(account))
	var warnings, fixes []string
	if excess := extra(rules, allowed); len(excess) > 0 {
		warnings = append(warnings, "the credentials may also "+strings.Join(excess, ", "))
		fixes = append(fixes, "the daemon needs only list and watch of services and endpointslices: narrow the remote ClusterRole (manifests/rbac-remote.yaml)")
	}
	if account != "" && !allows(rules, tokenRenewal(account)) {
		warnings = append(warnings, fmt.Sprintf("the credentials may not create serviceaccounts/token for %s/%s, so the daemon cannot renew its token", namespace, account))
		fixes = append(fixes, fmt.Sprintf("for an expiring token, grant create on serviceaccounts/token with resourceNames [%s] in %s (as `svcmirror link` does)", account, namespace))
	}
	if review.Status.Incomplete {
		warnings = append(warnings, "the review is incomplete ("+review.Status.EvaluationError+"), so the lists above may be too")
	}
	if len(warnings) > 0 {
		return Result{Verdict: Warn, Detail: strings.Join(warnings, "; "), Fix: strings.Join(fixes, "; ")}
	}
	return Result{Verdict: OK, Detail: fmt.Sprintf("%s answers; the credentials may %s and nothing more", host, joinPermissions(requiredRemote))}
}

// Token life thresholds: warn when less than a fifth of its life is left
// (the daemon renews at 80%, so a renewing daemon never lets it get there),
// or, for a token whose life is unknown (no iat), less than a day, time
// enough to act. A fresh 24-hour token, the default, is no warning.
const (
	tokenWarnFraction = 0.2
	tokenWarnLeft     = 24 * time.Hour
)

// checkToken: the credentials' bearer token has not expired and is not
// about to. The claims are decoded without verifying the signature; the
// remote-access check is where the server verifies it.
func checkToken(_ context.Context, s *state) Result {
	token := s.remoteConfig.BearerToken
	if token == "" {
		return Result{Verdict: OK, Detail: "the kubeconfig has no bearer token (client certificate or exec plugin): no expiry to read"}
	}
	claims, err := remote.DecodeToken(token)
	if errors.Is(err, remote.ErrNotJWT) {
		return Result{Verdict: OK, Detail: "the token is not a JWT: no expiry to read"}
	}
	if err != nil {
		return Result{Verdict: Fail, Detail: "the token is a malformed JWT: " + err.Error(), Fix: "make new credentials with `svcmirror link` and update the Secret"}
	}
	if claims.Expiry.IsZero() {
		return Result{Verdict: OK, Detail: "long-lived token (no exp claim): it never expires, so rotate it by hand"}
	}
	now := s.now()
	left := claims.Expiry.Sub(now)
	at := claims.Expiry.UTC().Format(time.RFC3339)
	renewFix := "a daemon allowed to create its ServiceAccount's token renews it at 80% of its life; otherwise make new credentials with `svcmirror link` and update the Secret"
	if left <= 0 {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("the token expired at %s, %s ago", at, roundDuration(-left)),
			Fix: "make new credentials with `svcmirror link` and update the Secret (a daemon that was down past the expiry cannot renew it)"}
	}
	detail := fmt.Sprintf("the token expires at %s, in %s", at, roundDuration(left))
	if !claims.IssuedAt.IsZero() && claims.Expiry.After(claims.IssuedAt) {
		life := claims.Expiry.Sub(claims.IssuedAt)
		fraction := float64(left) / float64(life)
		detail += fmt.Sprintf(" (%.0f%% of its %s life left)", 100*fraction, roundDuration(life))
		if fraction < tokenWarnFraction {
			return Result{Verdict: Warn, Detail: detail + ": less than a fifth of its life", Fix: renewFix}
		}
	}
	if claims.IssuedAt.IsZero() && left < tokenWarnLeft {
		return Result{Verdict: Warn, Detail: detail + ": less than a day", Fix: renewFix}
	}
	return Result{Verdict: OK, Detail: detail}
}

// roundDuration keeps durations readable: seconds under a minute, minutes
// under a day, hours beyond.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Minute:
		return d.Round(time.Second)
	case d < 24*time.Hour:
		return d.Round(time.Minute)
	default:
		return d.Round(time.Hour)
	}
}

// checkLeader: the Link's Lease has a holder who renewed it within its
// duration.
func checkLeader(ctx context.Context, s *state) Result {
	name := plan.LeaseName(s.cfg.LinkName)
	ref := s.cfg.Namespace + "/" + name
	startFix := "start the daemon for this Link (its Deployment) and look at its pods and log"
	lease, err := s.cfg.Local.CoordinationV1().Leases(s.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("no Lease %s: no service mirror has run for this Link", ref), Fix: startFix}
	}
	if err != nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("reading Lease %s: %v", ref, err), Fix: "check that you may get Leases in " + s.cfg.Namespace}
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Lease %s has no holder: no replica is the leader", ref), Fix: startFix}
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("Lease %s held by %s has no renewTime or leaseDurationSeconds", ref, holder), Fix: startFix}
	}
	renewed := lease.Spec.RenewTime.Time
	duration := time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	since := s.now().Sub(renewed)
	if since > duration {
		return Result{Verdict: Fail,
			Detail: fmt.Sprintf("Lease %s: its holder %s last renewed it %s ago, past its %s duration: the leader is gone", ref, holder, roundDuration(since), duration),
			Fix:    "look at the daemon's pods: a replica takes over within the lease duration when one runs"}
	}
	return Result{Verdict: OK, Detail: fmt.Sprintf("%s leads (renewed %s ago, lease %s)", holder, roundDuration(max(since, 0)), duration)}
}

// checkGateway: every gateway address answers the Link's probe, as the
// daemon would probe it. The check runs from where it is run, not from the
// daemon's pod, which may see the gateway differently.
func checkGateway(ctx context.Context, s *state) Result {
	l := s.link
	if len(l.GatewayAddresses) == 0 {
		return Result{Verdict: Skipped, Detail: "the Link has no gateway (flat network only)"}
	}
	if !l.Probe.Enabled() {
		return Result{Verdict: Skipped, Detail: "the Link has no probeSpec.path: the gateway is not probed, and its addresses are always ready"}
	}
	type outcome struct {
		target string
		err    error
		took   time.Duration
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	record := func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, o)
	}
	port := strconv.Itoa(int(l.Probe.Port))
	for _, addr := range l.GatewayAddresses {
		ips := []net.IP{net.ParseIP(addr)}
		if ips[0] == nil {
			var err error
			if ips, err = s.cfg.LookupIP(ctx, addr); err != nil {
				record(outcome{target: addr, err: fmt.Errorf("does not resolve (%w)", err)})
				continue
			}
		}
		for _, ip := range ips {
			url := "http://" + net.JoinHostPort(ip.String(), port) + l.Probe.Path
			wg.Add(1)
			go func() {
				defer wg.Done()
				took, err := probe(ctx, s.cfg.HTTPClient, url, l.Probe.Timeout)
				record(outcome{target: url, err: err, took: took})
			}()
		}
	}
	wg.Wait()
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].target < outcomes[j].target })
	var up, down []string
	for _, o := range outcomes {
		if o.err != nil {
			down = append(down, fmt.Sprintf("%s: %v", o.target, o.err))
		} else {
			up = append(up, fmt.Sprintf("%s answered in %s", o.target, o.took.Round(time.Millisecond)))
		}
	}
	fix := "check the gateway in the target cluster and that its probe port is reachable; the daemon moves a dead address to notReadyAddresses"
	switch {
	case len(up) == 0:
		return Result{Verdict: Fail, Detail: "no gateway address answers its probe: " + strings.Join(down, "; "), Fix: fix}
	case len(down) > 0:
		return Result{Verdict: Warn, Detail: "some gateway addresses do not answer: " + strings.Join(down, "; ") + "; " + strings.Join(up, "; "), Fix: fix}
	}
	return Result{Verdict: OK, Detail: strings.Join(up, "; ")}
}

// probe is one HTTP GET with the Link's timeout; a 2xx answer is alive,
// as in the daemon's prober.
func probe(ctx context.Context, client *http.Client, url string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		var urlErr *neturl.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the URL is in the detail already
		}
		return took, err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return took, fmt.Errorf("answered %s", resp.Status)
	}
	return took, nil
}

// maxListed caps how many objects a detail line names.
const maxListed = 10

// listNames joins names for a detail line, at most maxListed of them.
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, "; ")
	}
	return strings.Join(names[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(names)-maxListed)
}

// localMirrors lists the Link's mirror Services in every namespace, by
// the ownership labels.
func localMirrors(ctx context.Context, s *state) ([]corev1.Service, error) {
	list, err := s.cfg.Local.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: plan.LocalSelector(s.link.TargetClusterName).String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// remoteOf returns the remote Service a mirror stands for, from its
// remote-svc-fq-name annotation; an endpoint mirror (headless-mirror-svc-name
// label) stands for its headless Service.
// TODO(lead): RemoteFromFQName may move to mirror/plan with the same name.
func remoteOf(svc *corev1.Service) (namespace, name string, ok bool) {
	fq := svc.Annotations[plan.AnnotationRemoteSvcFQName]
	if _, endpointMirror := svc.Labels[plan.LabelHeadlessMirrorSvcName]; endpointMirror {
		namespace, name, _, ok = plan.RemoteFromEndpointMirrorFQName(fq)
		return namespace, name, ok
	}
	return plan.RemoteFromFQName(fq)
}

// checkMirrorEndpoints: every gateway-mode mirror has Endpoints with a
// ready address, unless its remote Service has no ready endpoint (then an
// empty mirror is right). Remote-discovery mirrors have no Endpoints by
// design and are not checked yet.
func checkMirrorEndpoints(ctx context.Context, s *state) Result {
	mirrors, err := localMirrors(ctx, s)
	if err != nil {
		return Result{Verdict: Fail, Detail: "listing the Link's mirror Services: " + err.Error(), Fix: "check that you may list Services in every namespace"}
	}
	eps, err := s.cfg.Local.CoreV1().Endpoints("").List(ctx, metav1.ListOptions{LabelSelector: plan.LocalSelector(s.link.TargetClusterName).String()})
	if err != nil {
		return Result{Verdict: Fail, Detail: "listing the Link's mirror Endpoints: " + err.Error(), Fix: "check that you may list Endpoints in every namespace"}
	}
	readyAddresses := map[string]int{}
	for _, ep := range eps.Items {
		for _, sub := range ep.Subsets {
			readyAddresses[ep.Namespace+"/"+ep.Name] += len(sub.Addresses)
		}
	}
	var withEndpoints, remoteEmpty, flat int
	var problems []string
	for i := range mirrors {
		svc := &mirrors[i]
		ref := svc.Namespace + "/" + svc.Name
		if _, isFlat := svc.Labels[plan.LabelRemoteDiscovery]; isFlat {
			flat++
			continue
		}
		if readyAddresses[ref] > 0 {
			withEndpoints++
			continue
		}
		ns, name, ok := remoteOf(svc)
		if !ok {
			problems = append(problems, ref+" has no ready address and no valid "+plan.AnnotationRemoteSvcFQName+" annotation")
			continue
		}
		ready, err := remoteReadyEndpoints(ctx, s, ns, name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s has no ready address, and reading remote %s/%s's endpoints failed: %v", ref, ns, name, err))
			continue
		}
		if ready == 0 {
			remoteEmpty++
			continue
		}
		problems = append(problems, fmt.Sprintf("%s has no ready address while remote %s/%s has %s", ref, ns, name, count(ready, "ready endpoint")))
	}
	if len(problems) > 0 {
		return Result{Verdict: Fail, Detail: listNames(problems),
			Fix: "see the gateway-probe check (a dead gateway's addresses are not ready) and the daemon's log; a running daemon repairs missing Endpoints"}
	}
	detail := fmt.Sprintf("%s with ready endpoints", count(withEndpoints, "gateway-mode mirror"))
	if remoteEmpty > 0 {
		detail += fmt.Sprintf(", %s without because the remote Service has no ready endpoint", count(remoteEmpty, "mirror"))
	}
	if flat > 0 {
		detail += fmt.Sprintf("; %s not checked (they have no Endpoints)", count(flat, "remote-discovery mirror"))
	}
	return Result{Verdict: OK, Detail: detail}
}

// remoteReadyEndpoints counts the ready endpoints of a remote Service,
// across its EndpointSlices, as the daemon counts them.
func remoteReadyEndpoints(ctx context.Context, s *state, namespace, name string) (int, error) {
	slices, err := s.remote.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}).String(),
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

// checkOrphans: every mirror of the Link stands for a remote Service that
// exists and that the Link still exports. The exported Services are listed
// through the Link's credentials with its own selectors, as the daemon's
// informers list them; a mirror whose remote is not among them is then
// looked up once to say whether it is gone or unexported.
func checkOrphans(ctx context.Context, s *state) Result {
	mirrors, err := localMirrors(ctx, s)
	if err != nil {
		return Result{Verdict: Fail, Detail: "listing the Link's mirror Services: " + err.Error(), Fix: "check that you may list Services in every namespace"}
	}
	exported := map[string]bool{}
	for _, sel := range []labels.Selector{s.link.Selector, s.link.RemoteDiscoverySelector} {
		if sel == nil {
			continue
		}
		if _, selectable := sel.Requirements(); !selectable || sel.Empty() {
			continue // labels.Nothing(): this selector exports nothing
		}
		list, err := s.remote.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return Result{Verdict: Fail, Detail: fmt.Sprintf("listing the remote Services selected by %q: %v", sel.String(), err), Fix: "see the remote-access check"}
		}
		for _, svc := range list.Items {
			exported[svc.Namespace+"/"+svc.Name] = true
		}
	}
	var orphans []string
	for i := range mirrors {
		svc := &mirrors[i]
		ref := svc.Namespace + "/" + svc.Name
		ns, name, ok := remoteOf(svc)
		if !ok {
			orphans = append(orphans, ref+" (no valid "+plan.AnnotationRemoteSvcFQName+" annotation)")
			continue
		}
		if exported[ns+"/"+name] {
			continue
		}
		remoteSvc, err := s.remote.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			orphans = append(orphans, fmt.Sprintf("%s (remote %s/%s no longer exists)", ref, ns, name))
		case err != nil:
			orphans = append(orphans, fmt.Sprintf("%s (reading remote %s/%s failed: %v)", ref, ns, name, err))
		case s.link.ModeFor(remoteSvc.Labels) == plan.ModeNone:
			orphans = append(orphans, fmt.Sprintf("%s (remote %s/%s is no longer selected by the Link)", ref, ns, name))
		}
	}
	if len(orphans) > 0 {
		return Result{Verdict: Fail, Detail: fmt.Sprintf("%s: %s", count(len(orphans), "orphaned mirror"), listNames(orphans)),
			Fix: "a running daemon deletes them at start-up and on every change: start it, or see its log if it runs"}
	}
	return Result{Verdict: OK, Detail: fmt.Sprintf("%s, each of an exported remote Service", count(len(mirrors), "mirror"))}
}

// count is "1 mirror", "2 mirrors".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
