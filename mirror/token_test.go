package mirror

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"

	"github.com/svcmirror/svcmirror/mirror/plan"
	"github.com/svcmirror/svcmirror/remote"
)

func TestAnExpiredTokenIsACredentialsProblemReadySays(t *testing.T) {
	e := New(Config{Namespace: "linkerd-multicluster", LinkName: "east"})
	events := record.NewFakeRecorder(4)
	e.status.events = events
	e.linkLoaded.Store(true)
	e.localSynced.Store(true)
	e.conn.replaceRemote(&fakeRemote{}, func() {}, nil, "")
	e.conn.setLink(&plan.Link{Namespace: "linkerd-multicluster", Name: "east"},
		&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": "linkerd-multicluster", "name": "east"}}})
	if ok, why := e.Ready(); !ok {
		t.Fatalf("not ready before any token report: %s", why)
	}
	expired := errors.New("token expired at 2026-12-01T10:00:00Z; run svcmirror link again and apply its output")
	e.TokenState(remote.TokenState{Phase: remote.TokenExpired, Expiry: time.Now().Add(-time.Hour), Err: expired})
	if ok, why := e.Ready(); ok || !strings.Contains(why, "run svcmirror link again") {
		t.Errorf("Ready() = %v, %q; want not ready, saying what to do", ok, why)
	}
	select {
	case ev := <-events.Events:
		if !strings.Contains(ev, "InvalidCredentials") {
			t.Errorf("event %q, want InvalidCredentials", ev)
		}
	default:
		t.Error("no Event for an expired token")
	}
	e.TokenState(remote.TokenState{Phase: remote.TokenRenewed, Expiry: time.Now().Add(24 * time.Hour)})
	if ok, why := e.Ready(); !ok {
		t.Errorf("still not ready once renewed: %s", why)
	}
}
