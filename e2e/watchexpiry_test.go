package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svcmirror/svcmirror/e2e/testbed"
)

// remoteReader is the target's ServiceAccount whose token the daemon's
// credentials Secret holds (manifests/rbac-remote.yaml).
const remoteReader = "system:serviceaccount:" + testbed.LinkNamespace + ":svcmirror-remote-reader"

// watchMinAge is how old the remote watches must be before a connection
// is dropped: client-go re-lists after any watch that ends within a second
// of its start with no event ("very short watch"), without re-watching
// first. Two seconds leave a second for the daemon's own delay between the
// server starting a watch and client-go starting its clock.
const watchMinAge = 2 * time.Second

// TestWatchExpiryRelistsWithoutWrites: the remote watches expire (etcd
// compacted past the resourceVersion they would resume from, while
// nothing the daemon mirrors changed); the daemon re-lists, writes nothing
// to the source cluster, stays ready and goes on following the remote.
//
// The fault, made real: the target's API server runs with
// --watch-cache=false, so its watches are etcd watches, which carry no
// bookmarks: a client's resourceVersion only moves with events for what
// it watches. Changes to unrelated objects (ConfigMaps here) move etcd's
// revision on; a compaction then removes the history the watches would
// resume from. An open watch is not affected by that, so the watches must
// also be re-opened: client-go asks for 5 to 10 min per watch (its
// timeoutSeconds wins over the server's --min-request-timeout), too long
// for a test, so the daemon reaches the target through a TCP relay that
// drops every connection once, as a load balancer or NAT that forgets its
// connections would. Each reflector then re-watches from its last
// resourceVersion, the server answers 410 Expired ("required revision has
// been compacted"), and the reflector re-lists: with client-go's
// WatchListClient, a watch with sendInitialEvents=true (a plain list
// without it).
//
// The proof is the target API server's own audit log: for every remote
// watch the daemon had open, a re-watch after the drop from a
// resourceVersion older than the compacted revision, followed by a
// re-list of the same resource and selector. A dropped connection alone
// makes only the re-watch (which then simply continues); the re-list
// needs the expiry. The server's log line for the refused watch is
// checked too.
func TestWatchExpiryRelistsWithoutWrites(t *testing.T) {
	p := linkedPair(t, nil, testbed.OnCluster("target",
		testbed.WithAuditReads(), testbed.WithAPIServerFlags("--watch-cache=false")))
	ctx := context.Background()
	const ns = "apps"
	if err := p.Source.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	makeRemoteService(t, p.Target, ns, "a", "10.8.0.1", exported("true"))
	makeRemoteService(t, p.Target, ns, "b", "10.8.0.2", exported("true"))
	makeRemoteService(t, p.Target, ns, "flat", "10.8.0.9", exported("remote-discovery"))
	const mirrors = 3

	relay := startCutProxy(t, strings.TrimPrefix(p.Target.Host, "https://"))
	kubeconfig, err := p.Target.ServiceAccountKubeconfig(ctx, testbed.LinkNamespace, "svcmirror-remote-reader")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteSecret(ctx, editKubeconfig(t, kubeconfig, func(c *clientcmdapi.Cluster) { c.Server = "https://" + relay.addr() })); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, p)
	for _, name := range []string{"a", "b"} {
		waitEndpoints(t, p.Source, ns, name+"-target", func(ep *corev1.Endpoints) (bool, string) { return len(ep.Subsets) == 1, "" })
	}
	waitService(t, p.Source, ns, "flat-target", func(*corev1.Service) (bool, string) { return true, "" })
	d.waitReady()
	waitSettled(t, d, mirrors)

	streams, newest := openWatches(t, p.Target)
	if len(streams) < 2 {
		t.Fatalf("the daemon's remote watches in the audit log: %v, want the Services' and the EndpointSlices'", streams)
	}
	// A precondition of the fault, not a wait for the daemon (see
	// watchMinAge).
	time.Sleep(time.Until(newest.Add(watchMinAge)))
	writes := localWrites(t, p.Source)
	daemonWrites := d.metric("svcmirror_writes_total")
	noops := d.metric("svcmirror_noop_syncs_total")
	refusedBefore := compactedWatchLines(t, p.Target)

	// The control: a dropped connection alone makes every watch resume
	// from where it was, and nothing re-lists. Without it the re-list
	// below could be the drop's doing, not the expiry's.
	controlDrop := time.Now()
	relay.drop()
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		d.alive()
		got := relistsAfter(t, p.Target, controlDrop)
		var missing []string
		for s := range streams {
			if _, ok := got[s]; !ok {
				missing = append(missing, s)
			}
		}
		return len(missing) == 0, fmt.Sprintf("no re-watch yet after the dropped connection for %v", missing)
	})
	// A refused re-watch would be re-listed within client-go's first
	// back-off (0.8 to 1.6 s): watchMinAge, which the new watches must
	// reach before the next drop anyway, covers it.
	_, newest = openWatches(t, p.Target)
	time.Sleep(time.Until(newest.Add(watchMinAge)))
	for s, r := range relistsAfter(t, p.Target, controlDrop) {
		if r.relist != nil {
			t.Fatalf("%s: re-listed after a dropped connection alone (%s), so a re-list cannot show an expiry", s, r.relist.RequestURI)
		}
	}

	// Unrelated changes move etcd's revision past the watches'.
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("churn-%d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}
		if _, err := p.Target.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	compacted, err := p.Target.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dropped := time.Now()
	relay.drop()

	// Every watch is re-opened from its old resourceVersion, refused as
	// expired, and re-listed.
	var relists map[string]relist
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		d.alive()
		relists = relistsAfter(t, p.Target, dropped)
		var missing []string
		for s := range streams {
			if r, ok := relists[s]; !ok || r.relist == nil {
				missing = append(missing, fmt.Sprintf("%s (re-watch: %v)", s, ok))
			}
		}
		return len(missing) == 0, fmt.Sprintf("no re-list after an expired re-watch yet for %v", missing)
	})
	for s, r := range relists {
		if !streams[s] {
			continue
		}
		rv, err := strconv.ParseInt(r.rewatchRV, 10, 64)
		if err != nil {
			t.Fatalf("%s: re-watch from resourceVersion %q: %v", s, r.rewatchRV, err)
		}
		// etcd serves a watch from rv+1; it has nothing before compacted.
		if rv+1 >= compacted {
			t.Errorf("%s: re-watched from resourceVersion %d, not older than the compacted revision %d: it did not expire", s, rv, compacted)
		}
		t.Logf("%s: re-watched from %d (etcd compacted at %d), then re-listed with %s", s, rv, compacted, r.relist.RequestURI)
	}
	if got := compactedWatchLines(t, p.Target); got <= refusedBefore {
		t.Errorf("the target API server logged no watch refused as compacted (%d such lines before the drop, %d now)", refusedBefore, got)
	}

	// The re-list hands every Service to the engine again (one no-op sync
	// each), and nothing is written.
	testbed.Eventually(t, 30*time.Second, func() (bool, string) {
		got := d.metric("svcmirror_noop_syncs_total") - noops
		return got >= mirrors, fmt.Sprintf("%v no-op syncs since the re-list, want at least %d (one per mirror)", got, mirrors)
	})
	waitSettled(t, d, mirrors)
	if got := localWrites(t, p.Source) - writes; got != 0 {
		t.Errorf("%v Service/Endpoints/EndpointSlice writes across the watch expiry and re-list, want 0", got)
	}
	if got := d.metric("svcmirror_writes_total") - daemonWrites; got != 0 {
		t.Errorf("the daemon counted %v writes across the watch expiry and re-list, want 0", got)
	}
	// (The dropped connections are a real blip: a health check caught in
	// one may log the server unreachable for a moment, so that is not
	// asserted; coming back to ready is.)
	d.waitReady()

	// The new watches are live: a remote change still reaches its mirror.
	updateRemote(t, p.Target, ns, "a", func(s *corev1.Service) { s.Labels["after"] = "relist" })
	waitService(t, p.Source, ns, "a-target", func(s *corev1.Service) (bool, string) {
		return s.Labels["after"] == "relist", "a change made after the re-list has not reached its mirror"
	})
}

// stream names one of the daemon's remote watches: the resource path and
// label selector (e.g. "/api/v1/services?labelSelector=...").
func stream(r testbed.AuditRead) string {
	u, err := url.Parse(r.RequestURI)
	if err != nil {
		return r.RequestURI
	}
	return u.Path + "?labelSelector=" + u.Query().Get("labelSelector")
}

// isRelist reports whether r fetches the whole state: a list, or a watch
// that starts with it (client-go's WatchListClient).
func isRelist(r testbed.AuditRead) bool {
	if r.Verb == "list" {
		return true
	}
	u, err := url.Parse(r.RequestURI)
	return err == nil && u.Query().Get("sendInitialEvents") == "true"
}

// daemonReads returns the target's logged lists and watches made with the
// daemon's credentials.
func daemonReads(t testing.TB, c *testbed.Cluster) []testbed.AuditRead {
	t.Helper()
	reads, err := c.AuditReads()
	if err != nil {
		t.Fatal(err)
	}
	var out []testbed.AuditRead
	for _, r := range reads {
		if r.User.Username == remoteReader {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Received.Before(out[j].Received) })
	return out
}

// openWatches returns the daemon's remote watch streams so far and when
// the newest watch was received.
func openWatches(t testing.TB, c *testbed.Cluster) (map[string]bool, time.Time) {
	t.Helper()
	out := map[string]bool{}
	var newest time.Time
	for _, r := range daemonReads(t, c) {
		if r.Verb == "watch" {
			out[stream(r)] = true
			if r.Received.After(newest) {
				newest = r.Received
			}
		}
	}
	return out, newest
}

// relist is what one watch stream did after the drop: the resourceVersion
// of its first re-watch (a watch without sendInitialEvents), and the first
// re-list that followed it.
type relist struct {
	rewatchRV string
	relist    *testbed.AuditRead
}

// relistsAfter finds, per stream, the first re-watch made at or after
// from and the first re-list after it.
func relistsAfter(t testing.TB, c *testbed.Cluster, from time.Time) map[string]relist {
	t.Helper()
	out := map[string]relist{}
	for _, r := range daemonReads(t, c) {
		if r.Received.Before(from) {
			continue
		}
		s := stream(r)
		seen, ok := out[s]
		switch {
		case !ok && r.Verb == "watch" && !isRelist(r):
			u, _ := url.Parse(r.RequestURI)
			out[s] = relist{rewatchRV: u.Query().Get("resourceVersion")}
		case ok && seen.relist == nil && isRelist(r):
			seen.relist = &r
			out[s] = seen
		}
	}
	return out
}

// compactedWatchLines counts the target API server's log lines for a watch
// that etcd refused because its start revision was compacted.
func compactedWatchLines(t testing.TB, c *testbed.Cluster) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "required revision has been compacted")
}
