package remote

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// events collects what a Cluster's handlers hear, for tests to wait on.
type events struct {
	synced      chan struct{}
	credentials chan error
}

func newEvents() *events {
	return &events{synced: make(chan struct{}, 16), credentials: make(chan error, 16)}
}

func (ev *events) handlers() Handlers {
	return Handlers{
		ServiceChanged: func(string, string) {},
		Synced:         func() { ev.synced <- struct{}{} },
		Credentials:    func(err error) { ev.credentials <- err },
	}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func gatewaySelector() []labels.Selector {
	return []labels.Selector{labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"})}
}

func countActions(client *fake.Clientset, verb, resource string) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

func TestARefusedListIsReportedOnceAsACredentialsProblemUntilGranted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	client := fake.NewClientset(svc("web", "true", "1"))
	var denied atomic.Bool
	denied.Store(true)
	refuse(client, "list", "services", func() error {
		if denied.Load() {
			return forbidden("list", "services", "")
		}
		return nil
	})
	ev := newEvents()
	c := Start(ctx, client, Options{Selectors: gatewaySelector(), Handlers: ev.handlers()})

	err := receive(t, ev.credentials, "the credentials report")
	var ce *CredentialsError
	if !errors.As(err, &ce) || ce.Code != 403 {
		t.Fatalf("credentials report %v, want a 403", err)
	}
	if why := c.NotReady(); !strings.HasPrefix(why, "remote credentials rejected: cannot list services (403 Forbidden for "+noRBACUser) {
		t.Fatalf("NotReady = %q, want it to name the refused permission", why)
	}
	if !c.Reachable() {
		t.Fatal("the server answers, yet the Cluster says unreachable")
	}

	denied.Store(false)
	receive(t, ev.synced, "the caches to sync once access is granted")
	if err := receive(t, ev.credentials, "the recovery report"); err != nil {
		t.Fatalf("second credentials report %v, want nil (accepted)", err)
	}
	if why := c.NotReady(); why != "" {
		t.Fatalf("NotReady = %q after access was granted, want \"\"", why)
	}
	if _, found := c.Service("ns", "web"); !found {
		t.Fatal("the Service is not cached after access was granted")
	}
	select {
	case err := <-ev.credentials:
		t.Fatalf("an extra credentials report %v: each change must be reported once", err)
	default:
	}
}

func TestTheServersReturnRelistsAtOnceAndSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	client := fake.NewClientset(svc("web", "true", "1"))
	var down atomic.Bool
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	client.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, refused
		}
		return false, nil, nil
	})
	ev := newEvents()
	c := Start(ctx, client, Options{Selectors: gatewaySelector(), Handlers: ev.handlers()})
	receive(t, ev.synced, "the first sync")
	before := c.current()
	listsBefore := countActions(client, "list", "services")

	down.Store(true)
	c.health.check(ctx)
	if why := c.NotReady(); why != "remote API server unreachable" {
		t.Fatalf("NotReady = %q during the outage", why)
	}
	down.Store(false)
	c.health.check(ctx)
	// Until the new list is in, the watches are not trusted.
	if why := c.NotReady(); why != "" && !strings.HasPrefix(why, "remote watches not live yet") {
		t.Fatalf("NotReady = %q right after the return", why)
	}
	receive(t, ev.synced, "the re-list after the return")
	if why := c.NotReady(); why != "" {
		t.Fatalf("NotReady = %q after the re-list", why)
	}
	if c.current() == before {
		t.Fatal("the informers serving reads are still the ones from before the outage")
	}
	if got := countActions(client, "list", "services"); got <= listsBefore {
		t.Fatalf("%d Service lists after the return, %d before: no re-list", got, listsBefore)
	}
	if _, found := c.Service("ns", "web"); !found {
		t.Fatal("the new generation lost the Service")
	}
}

func TestA403OnVersionIsAServerStartingNotACredentialsProblem(t *testing.T) {
	client := fake.NewClientset()
	var starting atomic.Bool
	starting.Store(true)
	client.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		if starting.Load() {
			// What a restarted API server answers before its RBAC
			// authorizer has loaded the roles.
			return true, nil, apierrors.NewForbidden(schema.GroupResource{}, "",
				errors.New(`User "system:serviceaccount:linkerd-multicluster:svcmirror-remote-reader" cannot get path "/version"`))
		}
		return false, nil, nil
	})
	var reports []error
	recovered := 0
	h := newHealth(client, Handlers{Credentials: func(err error) { reports = append(reports, err) }}, func() {}, func(context.Context) { recovered++ })
	ctx := context.Background()
	h.setReachable(ctx, errors.New("connection refused")) // the outage before the restart

	h.check(ctx)
	if len(reports) != 0 || h.credentials() != nil {
		t.Fatalf("a 403 on /version was reported as refused credentials: %v", reports)
	}
	if !h.starting.Load() || h.ok() {
		t.Fatal("a server refusing /version is taken as healthy, or not asked again soon")
	}
	starting.Store(false)
	h.check(ctx)
	if recovered != 1 || len(reports) != 0 || !h.ok() {
		t.Fatalf("after the server finished starting: recovered %d times, reports %v, ok %v", recovered, reports, h.ok())
	}

	// A server whose RBAC never lets anyone read /version is not starting
	// for ever: after a while its answer counts, and lists decide.
	starting.Store(true)
	h.setReachable(ctx, errors.New("connection refused"))
	for i := 0; i <= maxStartingVersionRefusals; i++ {
		h.check(ctx)
	}
	if recovered != 2 || h.starting.Load() || !h.ok() {
		t.Fatalf("a server refusing /version for good: recovered %d times (want 2), still polled as starting %v, ok %v", recovered, h.starting.Load(), h.ok())
	}
}
