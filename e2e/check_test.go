package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// checkRun is one `svcmirror check -o json` and what it said.
type checkRun struct {
	code   int
	stderr string
	report struct {
		Link   string `json:"link"`
		Passed bool   `json:"passed"`
		Checks []struct {
			Name   string `json:"name"`
			Result string `json:"result"`
			Detail string `json:"detail"`
			Fix    string `json:"fix"`
		} `json:"checks"`
	}
}

// runCheck runs `svcmirror check` against the pair's source cluster with
// the admin's kubeconfig, as an operator would.
func runCheck(t *testing.T, p *testbed.Pair) *checkRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, svcmirrorBin(t), "check", "--kubeconfig="+p.Source.KubeconfigPath,
		"--namespace="+testbed.LinkNamespace, "--link="+p.ClusterName, "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &checkRun{stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("svcmirror check: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.report); err != nil {
		t.Fatalf("svcmirror check -o json printed no report (%v):\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return r
}

// result returns the named check's verdict and detail.
func (r *checkRun) result(name string) (verdict, detail string) {
	for _, c := range r.report.Checks {
		if c.Name == name {
			return c.Result, c.Detail
		}
	}
	return "", "no such check"
}

// String shows the whole run, for failure messages.
func (r *checkRun) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d, passed %v\n", r.code, r.report.Passed)
	for _, c := range r.report.Checks {
		fmt.Fprintf(&b, "  %-17s %-7s %s\n", c.Name, c.Result, c.Detail)
	}
	fmt.Fprintf(&b, "stderr:\n%s", r.stderr)
	return b.String()
}

// wantFailed fails t unless the run exited 1, named each of names as
// failed on stderr, and each named check failed with a detail containing
// its text.
func (r *checkRun) wantFailed(t *testing.T, want map[string]string) {
	t.Helper()
	if r.code != 1 || r.report.Passed {
		t.Errorf("exit %d, passed %v; want exit 1 and not passed", r.code, r.report.Passed)
	}
	for name, text := range want {
		verdict, detail := r.result(name)
		if verdict != "fail" || !strings.Contains(detail, text) {
			t.Errorf("%s: %s %q, want fail containing %q", name, verdict, detail, text)
		}
		if !strings.Contains(r.stderr, "check "+name+" failed") {
			t.Errorf("stderr does not name %s as failed", name)
		}
	}
	if t.Failed() {
		t.Logf("the run:\n%s", r)
	}
}

// wantHealthy fails t unless the run exited 0 and every check is ok, but
// for the warnings allowed.
func (r *checkRun) wantHealthy(t *testing.T, warningsAllowed ...string) {
	t.Helper()
	if r.code != 0 || !r.report.Passed || len(r.report.Checks) != 9 {
		t.Errorf("exit %d, passed %v, %d checks; want exit 0, passed, 9 checks", r.code, r.report.Passed, len(r.report.Checks))
	}
	for _, c := range r.report.Checks {
		if c.Result != "ok" && !(c.Result == "warn" && slices.Contains(warningsAllowed, c.Name)) {
			t.Errorf("%s: %s %q, want ok", c.Name, c.Result, c.Detail)
		}
	}
	if t.Failed() {
		t.Logf("the run:\n%s", r)
	}
}

// TestCheck runs `svcmirror check` against a real linked pair with the
// daemon running and a gateway stand-in answering its probe (inside a
// private network namespace, as TestGatewayProbe), and breaks the link one
// way at a time: it passes when the link is healthy, and fails naming the
// cause for a broken Secret, a missing remote permission, an expired token,
// a dead gateway and no leader; each cause is repaired before the next.
func TestCheck(t *testing.T) {
	if !inPrivateNetwork(t, "", gwA) {
		return
	}
	ctx := context.Background()
	gateway := startGateway(t, gwA, "4191")
	cs := testbed.StartAll(t, []string{"source", "target"})
	p, err := testbed.LinkClusters(ctx, cs[0], cs[1], clusterName)
	if err != nil {
		t.Fatal(err)
	}
	probe := map[string]any{"path": "/ready", "port": "4191", "period": "1s", "timeout": "1s", "failureThreshold": "2"}
	if err := p.ApplyLink(ctx, p.LinkObject(gwA, map[string]any{"probeSpec": probe})); err != nil {
		t.Fatal(err)
	}
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "one", "10.7.0.1", exported("true"))
	makeRemoteService(t, p.Target, ns, "flat", "10.7.0.3", exported("remote-discovery"))
	leader := startDaemonWithEnv(t, p, []string{"POD_NAME=svcmirror-e2e-0"}, append([]string{"--gateway-resolve-interval=500ms"}, haFlags...)...)
	waitEndpoints(t, p.Source, ns, "one-target", func(ep *corev1.Endpoints) (bool, string) {
		ready, notReady := gatewayAddresses(ep)
		return len(ready) == 1 && len(notReady) == 0, fmt.Sprintf("ready %v notReady %v", ready, notReady)
	})
	waitService(t, p.Source, ns, "flat-target", func(*corev1.Service) (bool, string) { return true, "" })

	// The test bed's remote RBAC may be without token renewal, a warning.
	// Its 24-hour token is no warning: most of its life is left.
	healthyWarnings := []string{"remote-access"}
	t.Run("healthy", func(t *testing.T) {
		r := runCheck(t, p)
		r.wantHealthy(t, healthyWarnings...)
		for name, text := range map[string]string{
			"leader":           "svcmirror-e2e-0 leads",
			"gateway-probe":    "http://" + gwA + ":4191/ready answered in",
			"mirror-endpoints": "1 gateway-mode mirror with ready endpoints; 1 remote-discovery mirror not checked",
			"orphaned-mirrors": "2 mirrors, each of an exported remote Service",
		} {
			if _, detail := r.result(name); !strings.Contains(detail, text) {
				t.Errorf("%s: %q lacks %q", name, detail, text)
			}
		}
		if _, detail := r.result("remote-access"); strings.Contains(detail, "may also") {
			t.Errorf("remote-access: the shipped remote RBAC grants more than needed: %s", detail)
		}

		// The table for people: a header and one aligned row per check.
		out, err := exec.Command(svcmirrorBin(t), "check", "--kubeconfig="+p.Source.KubeconfigPath, "--link="+p.ClusterName).Output()
		if err != nil {
			t.Fatalf("svcmirror check (table): %v", err)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != 10 || !strings.HasPrefix(lines[0], "CHECK") || strings.Index(lines[1], "ok") != strings.Index(lines[0], "RESULT") {
			t.Errorf("table is not a header and 9 aligned rows:\n%s", out)
		}
		t.Logf("svcmirror check on a healthy link:\n%s", out)
	})

	restoreCredentials := func(t *testing.T) {
		t.Helper()
		if err := p.WriteCredentials(ctx, "svcmirror-remote-reader"); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("broken Secret", func(t *testing.T) {
		if err := p.WriteSecret(ctx, []byte("apiVersion: v1\nclusters: [not a kubeconfig")); err != nil {
			t.Fatal(err)
		}
		defer restoreCredentials(t)
		r := runCheck(t, p)
		r.wantFailed(t, map[string]string{"credentials": "kubeconfig does not parse"})
		if verdict, detail := r.result("remote-access"); verdict != "skipped" || !strings.Contains(detail, "because credentials failed") {
			t.Errorf("remote-access: %s %q, want skipped because credentials failed", verdict, detail)
		}
	})

	t.Run("missing remote permission", func(t *testing.T) {
		// A reader like the shipped one but without watch on EndpointSlices.
		const account = "reader-without-watch"
		rules := []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list"}},
		}
		makeRemoteReader(t, p.Target, account, rules)
		if err := p.WriteCredentials(ctx, account); err != nil {
			t.Fatal(err)
		}
		defer restoreCredentials(t)
		// The API server's authorizer learns of the new binding from its
		// informers, a moment after it is written.
		var r *checkRun
		testbed.Eventually(t, 20*time.Second, func() (bool, string) {
			r = runCheck(t, p)
			_, detail := r.result("remote-access")
			return strings.Contains(detail, "the credentials may not watch endpointslices.discovery.k8s.io in the target cluster"), r.String()
		})
		r.wantFailed(t, map[string]string{"remote-access": "may not watch endpointslices.discovery.k8s.io in the target cluster"})
	})

	t.Run("expired token", func(t *testing.T) {
		// TokenRequest will not issue a token that is already expired (its
		// shortest life is ten minutes), so the test signs one with the
		// target's own ServiceAccount key: a bound token of the remote
		// reader, valid in every way but its expiry. A fresh twin of it is
		// accepted first, so the rejection below is the expiry's doing.
		sa, err := p.Target.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Get(ctx, "svcmirror-remote-reader", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		token := func(issued, expires time.Time) []byte {
			t.Helper()
			signed, err := p.Target.SignServiceAccountToken(map[string]any{
				"iss": testbed.ServiceAccountIssuer, "aud": []string{testbed.ServiceAccountIssuer},
				"sub": "system:serviceaccount:" + testbed.LinkNamespace + ":" + sa.Name,
				"iat": issued.Unix(), "nbf": issued.Unix(), "exp": expires.Unix(),
				"kubernetes.io": map[string]any{"namespace": testbed.LinkNamespace, "serviceaccount": map[string]any{"name": sa.Name, "uid": string(sa.UID)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			kubeconfig, err := p.Target.Kubeconfig(signed)
			if err != nil {
				t.Fatal(err)
			}
			return kubeconfig
		}
		defer restoreCredentials(t)
		now := time.Now()
		if err := p.WriteSecret(ctx, token(now.Add(-time.Minute), now.Add(48*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if r := runCheck(t, p); r.code != 0 {
			t.Fatalf("a fresh token signed like the expired one is not accepted:\n%s", r)
		}
		if err := p.WriteSecret(ctx, token(now.Add(-25*time.Hour), now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		runCheck(t, p).wantFailed(t, map[string]string{
			"token-expiry":  "the token expired at",
			"remote-access": "rejects the credentials (401 Unauthorized)",
		})
	})

	t.Run("dead gateway", func(t *testing.T) {
		gateway.stop()
		defer gateway.start()
		// Wait for the daemon to mark it down too, so that the mirror's
		// lost endpoints are reported as well.
		waitEndpoints(t, p.Source, ns, "one-target", func(ep *corev1.Endpoints) (bool, string) {
			ready, notReady := gatewayAddresses(ep)
			return len(ready) == 0 && len(notReady) == 1, fmt.Sprintf("ready %v notReady %v", ready, notReady)
		})
		runCheck(t, p).wantFailed(t, map[string]string{
			"gateway-probe":    "no gateway address answers its probe: http://" + gwA + ":4191/ready",
			"mirror-endpoints": "apps/one-target has no ready address while remote apps/one has 1 ready endpoint",
		})
	})

	t.Run("no leader", func(t *testing.T) {
		// Killed, not stopped: a stopped leader releases its Lease, a dead
		// one leaves it to lapse.
		leader.proc.Kill()
		defer leader.start()
		// Wait until the Lease has lapsed by the API server's own record.
		testbed.Eventually(t, 10*time.Second, func() (bool, string) {
			lease, err := p.Source.Client.CoordinationV1().Leases(testbed.LinkNamespace).Get(ctx, "service-mirror-write-"+p.ClusterName, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			lapsed := lease.Spec.RenewTime.Add(haLease + time.Second)
			return time.Now().After(lapsed), "Lease renewed at " + lease.Spec.RenewTime.String()
		})
		runCheck(t, p).wantFailed(t, map[string]string{"leader": "its holder svcmirror-e2e-0 last renewed it"})
	})

	t.Run("healthy again", func(t *testing.T) {
		waitEndpoints(t, p.Source, ns, "one-target", func(ep *corev1.Endpoints) (bool, string) {
			ready, _ := gatewayAddresses(ep)
			return len(ready) == 1, fmt.Sprintf("ready %v", ready)
		})
		runCheck(t, p).wantHealthy(t, healthyWarnings...)
	})
}

// makeRemoteReader creates, in the target cluster, a ServiceAccount in the
// Link namespace bound cluster-wide to rules.
func makeRemoteReader(t *testing.T, c *testbed.Cluster, account string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: testbed.LinkNamespace, Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: account}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: account},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: account},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: testbed.LinkNamespace, Name: account}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
