package mirror

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svcmirror/svcmirror/remote"
)

// startConn connects c with a fake remote cluster, as startRemote would,
// and returns the candidate record, whether it was made a candidate, a
// channel closed when its caches sync and whether its stop was called.
func startConn(t *testing.T, c *connection, client *fake.Clientset) (cand *remoteCandidate, asCandidate bool, synced chan struct{}, stopped *bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stopped = new(bool)
	synced = make(chan struct{})
	cand = &remoteCandidate{stop: func() { *stopped = true; cancel() }, kubeconfig: []byte(t.Name())}
	_, asCandidate = c.connect(cand, func(candidate bool) *remote.Cluster {
		return remote.Start(ctx, client, remote.Options{
			Selectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"mirror.linkerd.io/exported": "true"})},
			Handlers:  remote.Handlers{Synced: func() { close(synced) }},
			Candidate: candidate,
		})
	})
	return cand, asCandidate, synced, stopped
}

func waitClosed(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestNewCredentialsReplaceAWorkingConnectionOnlyOncePromoted(t *testing.T) {
	c := &connection{}
	working, asCandidate, synced, workingStopped := startConn(t, c, fake.NewClientset())
	if asCandidate {
		t.Fatal("the first connection was made a candidate")
	}
	waitClosed(t, synced, "the working connection to sync")

	cand, asCandidate, _, _ := startConn(t, c, fake.NewClientset())
	if !asCandidate {
		t.Fatal("new credentials replaced a working connection before they had listed")
	}
	if c.snapshot().Remote != remoteView(working.cluster) || *workingStopped {
		t.Fatal("the working connection is no longer in use while the candidate is tested")
	}
	if !c.newProblem(cand, "connection refused") || c.newProblem(cand, "connection refused") {
		t.Fatal("a candidate's problem must be new once, then not again")
	}

	if !c.promote(cand) {
		t.Fatal("the candidate was not promoted")
	}
	if c.snapshot().Remote != remoteView(cand.cluster) || !*workingStopped || c.candidate != nil {
		t.Fatal("after promotion the candidate must be in use and the old connection stopped")
	}
	if c.promote(cand) {
		t.Fatal("a candidate was promoted twice")
	}
}

func TestNewCredentialsReplaceABrokenConnectionAtOnce(t *testing.T) {
	c := &connection{}
	refusing := fake.NewClientset()
	refusing.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	_, _, _, brokenStopped := startConn(t, c, refusing) // never syncs
	cand, asCandidate, _, _ := startConn(t, c, fake.NewClientset())
	if asCandidate || c.snapshot().Remote != remoteView(cand.cluster) || !*brokenStopped {
		t.Fatal("a connection that does not work was kept while new credentials were tested")
	}
}
