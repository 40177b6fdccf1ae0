package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// remoteOutage is how long the remote API server stays away in the
// catch-up test: long enough for client-go's reflector back-off to grow
// past 10 s, as in the outage the issue measured.
const remoteOutage = 20 * time.Second

// catchUpBound is the target: a change made once the remote API server
// answers again reaches its mirror within this.
const catchUpBound = 2 * time.Second

// TestRemoteOutageCatchUp stops the remote API server for 20 s, three
// times, and makes a label change the moment the restarted server accepts
// it: the change must reach its mirror within 2 s of that moment every
// time (the time from the server's first answer to /version is logged
// too). /ready must stay 503 until the watches are live again, so a second
// change made once /ready says ok must arrive within a second too.
func TestRemoteOutageCatchUp(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.5.0.1", exported("true"))
	d := startDaemon(t, p)
	waitService(t, p.Source, ns, "web-target", func(*corev1.Service) (bool, string) { return true, "" })
	d.waitReady()

	var catchUps, fromFirstAnswer, afterReady []time.Duration
	for round := 1; round <= 3; round++ {
		p.Target.StopAPIServer()
		stopped := time.Now()
		waitNotReady(t, d, "unreachable")
		// The outage itself: a fixed fault, not a wait for a condition.
		time.Sleep(time.Until(stopped.Add(remoteOutage)))

		value := fmt.Sprintf("round-%d", round)
		changed, answers := make(chan time.Time, 1), make(chan time.Time, 1)
		go func() { changed <- changeOnceServing(p.Target, ns, "web", "after", value) }()
		go func() { answers <- firstAnswer(p.Target) }()
		started := make(chan error, 1)
		go func() { started <- p.Target.StartAPIServer(ctx) }()

		var answered time.Time
		select {
		case answered = <-changed:
		case err := <-started:
			if err != nil {
				t.Fatalf("round %d: restart the remote API server: %v", round, err)
			}
			answered = <-changed
		}
		if answered.IsZero() {
			t.Fatalf("round %d: the restarted server never accepted the change", round)
		}
		arrived := waitMirrorLabel(t, p.Source, ns, "web-target", "after", value, answered.Add(30*time.Second))
		took := arrived.Sub(answered)
		catchUps = append(catchUps, took)
		fromFirstAnswer = append(fromFirstAnswer, arrived.Sub(<-answers))
		if took > catchUpBound {
			t.Errorf("round %d: a change made when the server answered reached its mirror after %v, want at most %v", round, took, catchUpBound)
		}
		if err := <-started; err != nil {
			t.Fatalf("round %d: restart the remote API server: %v", round, err)
		}

		// Once /ready says ok, the watches are live: a change arrives at once.
		d.waitReady()
		second := value + "-ready"
		updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["after"] = second })
		readyChange := time.Now()
		arrived = waitMirrorLabel(t, p.Source, ns, "web-target", "after", second, readyChange.Add(30*time.Second))
		afterReady = append(afterReady, arrived.Sub(readyChange))
		if took := arrived.Sub(readyChange); took > time.Second {
			t.Errorf("round %d: /ready said ok, yet a change then took %v to arrive: the watches were not live", round, took)
		}
	}
	if strings.Contains(d.log(), "Remote credentials rejected") {
		t.Error("a restart of the remote API server was reported as refused credentials")
	}
	t.Logf("catch-up after a %v remote outage: a change made when the server first accepted it reached its mirror in %v "+
		"(%v after the server first answered /version); a change made once /ready said ok: %v", remoteOutage, catchUps, fromFirstAnswer, afterReady)
}

// changeOnceServing sets label key=value on the remote Service as soon as
// the API server accepts the write, retrying every 10 ms for up to a
// minute, and returns when it was accepted (zero if never).
func changeOnceServing(c *testbed.Cluster, ns, name, key, value string) time.Time {
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			svc.Labels[key] = value
			if _, err = c.Client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err == nil {
				return time.Now()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}
}

// firstAnswer polls the API server's /version every 10 ms, for up to a
// minute, and returns when it first answered at all (any HTTP status).
func firstAnswer(c *testbed.Cluster) time.Time {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, _, err := c.Get(context.Background(), testbed.AdminToken, "/version"); err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}
}

// waitMirrorLabel polls the local Service every 10 ms until its label key
// is value, and returns when it was seen; it fails the test at deadline.
func waitMirrorLabel(t testing.TB, c *testbed.Cluster, ns, name, key, value string, deadline time.Time) time.Time {
	t.Helper()
	for {
		svc, err := c.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && svc.Labels[key] == value {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror %s/%s: label %s is not %q by the deadline (err %v)", ns, name, key, value, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRefusedCredentialsAreReported links with a ServiceAccount that has
// no RBAC at all: /ready, the metric, an Event and the Link status say the
// credentials are refused, one log line names the missing permission, and
// mirroring starts once the RBAC is granted, which is reported once too.
func TestRefusedCredentialsAreReported(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.6.0.1", exported("true"))
	const account = "no-rbac"
	if _, err := p.Target.Client.CoreV1().ServiceAccounts(testbed.LinkNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteCredentials(ctx, account); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, p)

	waitNotReady(t, d, "remote credentials rejected: cannot list services")
	if got := d.metric("svcmirror_remote_credentials_valid"); got != 0 {
		t.Errorf("svcmirror_remote_credentials_valid = %v with refused credentials, want 0", got)
	}
	waitEvent(t, p.Source, "InvalidCredentials", "cannot list services")
	waitLinkSummary(t, p, "remoteCredentialsValid", false)
	if exists(t, p.Source, ns, "web-target") {
		t.Fatal("a mirror exists although the remote refuses every read")
	}

	bindReader(t, p.Target, account)
	waitService(t, p.Source, ns, "web-target", func(*corev1.Service) (bool, string) { return true, "" })
	d.waitReady()
	if got := d.metric("svcmirror_remote_credentials_valid"); got != 1 {
		t.Errorf("svcmirror_remote_credentials_valid = %v after the RBAC was granted, want 1", got)
	}
	waitLinkSummary(t, p, "remoteCredentialsValid", true)

	log := d.log()
	if n := strings.Count(log, "Remote credentials rejected"); n != 1 {
		t.Errorf("%d \"Remote credentials rejected\" lines, want 1 (once per change)", n)
	}
	if !strings.Contains(log, `verb="list" resource="services" group=""`) {
		t.Error("the rejection line does not name the missing permission (verb, resource, group)")
	}
	if n := strings.Count(log, "Remote credentials accepted again"); n != 1 {
		t.Errorf("%d \"Remote credentials accepted again\" lines, want 1", n)
	}
}

// waitLinkSummary waits until the Link's status.summary.<field> is want.
func waitLinkSummary(t testing.TB, p *testbed.Pair, field string, want bool) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		link, err := p.GetLink(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got, found, _ := unstructured.NestedBool(link.Object, "status", "summary", field)
		return found && got == want, fmt.Sprintf("status.summary.%s = %v (found %v), want %v", field, got, found, want)
	})
}

// log returns everything the daemon has logged in its current run.
func (d *daemon) log() string {
	data, err := os.ReadFile(filepath.Join(d.dir, fmt.Sprintf("svcmirror-%d.log", d.runNo)))
	if err != nil {
		d.t.Fatal(err)
	}
	return string(data)
}

// TestBrokenNewCredentialsKeepTheWorkingConnection replaces working
// credentials with parsable but useless ones (a closed port, then a CA
// that did not sign the server's certificate): mirroring goes on over the
// working connection, each is reported as InvalidCredentials with its
// cause, and good new credentials are switched to.
func TestBrokenNewCredentialsKeepTheWorkingConnection(t *testing.T) {
	p := linkedPair(t, nil)
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "web", "10.7.0.1", exported("true"))
	d := startDaemon(t, p)
	waitService(t, p.Source, ns, "web-target", func(*corev1.Service) (bool, string) { return true, "" })
	d.waitReady()

	good, err := p.Target.ServiceAccountKubeconfig(ctx, testbed.LinkNamespace, "svcmirror-remote-reader")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := editKubeconfig(t, good, func(c *clientcmdapi.Cluster) { c.Server = "https://" + freeAddr(t) })
	otherCA := editKubeconfig(t, good, func(c *clientcmdapi.Cluster) { c.CertificateAuthorityData = clusterCA(t, p.Source) })

	for _, tc := range []struct {
		name, cause string
		kubeconfig  []byte
	}{
		{"a closed port", "connection refused", closedPort},
		{"a CA that did not sign the server's certificate", "x509", otherCA},
	} {
		if err := p.WriteSecret(ctx, tc.kubeconfig); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, p.Source, "InvalidCredentials", tc.cause)
		value := strings.ReplaceAll(tc.cause, " ", "-")
		updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["during"] = value })
		waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
			return s.Labels["during"] == value, "with " + tc.name + " in the Secret, a remote change still reaches its mirror"
		})
		if _, err := d.get("/ready"); err != nil {
			t.Errorf("with %s in the Secret: %v; the working connection still serves", tc.name, err)
		}
	}

	// Good new credentials (a fresh token) are switched to.
	if err := p.WriteCredentials(ctx, "svcmirror-remote-reader"); err != nil {
		t.Fatal(err)
	}
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		return strings.Contains(d.log(), "New remote credentials or selectors work; switched to them"), "no switch to the good new credentials"
	})
	updateRemote(t, p.Target, ns, "web", func(s *corev1.Service) { s.Labels["during"] = "good" })
	waitService(t, p.Source, ns, "web-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["during"] == "good", "a change after the switch propagates"
	})
	d.waitReady()
}

// editKubeconfig returns kubeconfig with edit applied to its every cluster.
func editKubeconfig(t testing.TB, kubeconfig []byte, edit func(*clientcmdapi.Cluster)) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		edit(c)
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clusterCA returns the CA certificate of c's admin kubeconfig.
func clusterCA(t testing.TB, c *testbed.Cluster) []byte {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		return cl.CertificateAuthorityData
	}
	t.Fatal("no cluster in the admin kubeconfig")
	return nil
}
