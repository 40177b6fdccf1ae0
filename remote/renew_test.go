package remote

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

const (
	testNS     = "linkerd-multicluster"
	testSecret = "cluster-credentials-target"
)

var t0 = time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)

// renewFixture is a Renewer over fake local and remote clusters and a fake
// clock, with its reported states on a channel.
type renewFixture struct {
	t      *testing.T
	local  *fake.Clientset
	remote *fake.Clientset
	clock  *testingclock.FakeClock
	states chan TokenState

	mu       sync.Mutex
	requests []*authenticationv1.TokenRequest
	// issue is the token the fake remote API server issues next.
	issue func(req *authenticationv1.TokenRequest) (string, error)
}

func newRenewFixture(t *testing.T, now time.Time, kubeconfig []byte) *renewFixture {
	f := &renewFixture{
		t:      t,
		local:  fake.NewClientset(),
		remote: fake.NewClientset(),
		clock:  testingclock.NewFakeClock(now),
		states: make(chan TokenState, 100),
	}
	if kubeconfig != nil {
		_, err := f.local.CoreV1().Secrets(testNS).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret, Labels: map[string]string{"keep": "me"}},
			Type:       "mirror.linkerd.io/remote-kubeconfig",
			Data:       map[string][]byte{KubeconfigKey: kubeconfig, "other": []byte("kept")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A token issued now, for the lifetime asked.
	f.issue = func(req *authenticationv1.TokenRequest) (string, error) {
		now := f.clock.Now()
		return saToken(t, now, now.Add(time.Duration(*req.Spec.ExpirationSeconds)*time.Second)), nil
	}
	f.remote.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		req := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		f.mu.Lock()
		f.requests = append(f.requests, req.DeepCopy())
		f.mu.Unlock()
		tok, err := f.issue(req)
		if err != nil {
			return true, nil, err
		}
		out := req.DeepCopy()
		out.Status.Token = tok
		return true, out, nil
	})
	return f
}

// run starts the Renewer; it stops when the test ends.
func (f *renewFixture) run(fraction float64) {
	r, err := NewRenewer(RenewerConfig{
		Local: f.local, Namespace: testNS, SecretName: testSecret,
		NewRemoteClient: func([]byte) (kubernetes.Interface, error) { return f.remote, nil },
		Fraction:        fraction,
		Clock:           f.clock,
		OnState:         func(s TokenState) { f.states <- s },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

// next waits for the next reported state with the given phase, skipping
// others, and fails after 10 s of real time.
func (f *renewFixture) next(phase TokenPhase) TokenState {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-f.states:
			if s.Phase == phase {
				return s
			}
		case <-deadline:
			f.t.Fatalf("no %s state within 10s", phase)
		}
	}
}

func (f *renewFixture) secretToken() string {
	f.t.Helper()
	s, err := f.local.CoreV1().Secrets(testNS).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := BearerToken(s.Data[KubeconfigKey])
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *renewFixture) tokenRequests() []*authenticationv1.TokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*authenticationv1.TokenRequest(nil), f.requests...)
}

func TestRenewerRenewsAt80PercentOfTheTokensLife(t *testing.T) {
	old := saToken(t, t0, t0.Add(time.Hour))
	f := newRenewFixture(t, t0.Add(time.Minute), testKubeconfig(t, old))
	f.run(0)

	s := f.next(TokenScheduled)
	if want := t0.Add(48 * time.Minute); !s.RenewAt.Equal(want) || !s.Expiry.Equal(t0.Add(time.Hour)) {
		t.Fatalf("scheduled %+v, want renewal at %s", s, want)
	}
	if n := len(f.tokenRequests()); n != 0 {
		t.Fatalf("%d token requests before the renewal time", n)
	}

	f.clock.Step(47 * time.Minute) // t0+48m
	r := f.next(TokenRenewed)
	newExpiry := t0.Add(48*time.Minute + time.Hour)
	if !r.Expiry.Equal(newExpiry) || !r.RenewAt.Equal(t0.Add(48*time.Minute+48*time.Minute)) {
		t.Fatalf("renewed %+v, want expiry %s and next renewal 48m after t0+48m", r, newExpiry)
	}
	reqs := f.tokenRequests()
	if len(reqs) != 1 || *reqs[0].Spec.ExpirationSeconds != 3600 ||
		len(reqs[0].Spec.Audiences) != 1 || reqs[0].Spec.Audiences[0] != "https://kubernetes.default.svc.cluster.local" {
		t.Fatalf("token requests = %+v, want one for 3600 s with the old token's audience", reqs)
	}
	for _, a := range f.remote.Actions() {
		if a.GetSubresource() == "token" {
			if ns, name := a.GetNamespace(), a.(k8stesting.CreateActionImpl).Name; ns != "linkerd-multicluster" || name != "svcmirror-remote-reader" {
				t.Errorf("token requested for %s/%s, want the token's own ServiceAccount", ns, name)
			}
		}
	}

	got, err := f.local.CoreV1().Secrets(testNS).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := BearerToken(got.Data[KubeconfigKey])
	if tok == old {
		t.Fatal("the Secret still holds the old token")
	}
	if c, _ := ParseTokenClaims(tok); !c.Expiry.Equal(newExpiry) {
		t.Fatalf("the Secret's token expires at %s, want %s", c.Expiry, newExpiry)
	}
	want, _ := ReplaceToken(testKubeconfig(t, old), tok)
	if string(got.Data[KubeconfigKey]) != string(want) {
		t.Fatalf("kubeconfig changed beyond its token:\n%s\nwant\n%s", got.Data[KubeconfigKey], want)
	}
	if string(got.Data["other"]) != "kept" || got.Labels["keep"] != "me" || got.Type != "mirror.linkerd.io/remote-kubeconfig" {
		t.Fatalf("the Secret lost other content: %+v", got)
	}

	// The renewed token is renewed in its turn, not before: neither the
	// echo of the write nor the time up to its renewal time renews it.
	f.clock.Step(47 * time.Minute) // t0+95m
	if n := len(f.tokenRequests()); n != 1 {
		t.Fatalf("%d token requests right after renewing, want 1 (the informer's stale copy must not be renewed again)", n)
	}
	f.clock.Step(time.Minute) // t0+96m
	if s := f.next(TokenRenewed); !s.Expiry.Equal(t0.Add(96*time.Minute + time.Hour)) {
		t.Fatalf("second renewal %+v, want a token expiring at t0+156m", s)
	}
	if n := len(f.tokenRequests()); n != 2 {
		t.Fatalf("%d token requests after the second renewal time, want 2", n)
	}
}

func TestRenewerSaysAnExpiredTokenNeedsANewLink(t *testing.T) {
	f := newRenewFixture(t, t0.Add(2*time.Hour), testKubeconfig(t, saToken(t, t0, t0.Add(time.Hour))))
	f.run(0)
	s := f.next(TokenExpired)
	if msg := s.Err.Error(); !strings.Contains(msg, "token expired at 2026-12-01T23:00:00Z") || !strings.Contains(msg, "run `svcmirror link` again and apply its output") {
		t.Fatalf("expired message %q does not say when and how to fix it", msg)
	}
	if n := len(f.tokenRequests()); n != 0 {
		t.Fatalf("%d token requests with an expired token", n)
	}
}

func TestRenewerLeavesLongLivedAndForeignCredentialsAlone(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kubeconfig []byte
		want       TokenPhase
	}{
		{"a token without exp", testKubeconfig(t, saToken(t, t0, time.Time{})), TokenLongLived},
		{"a token that is not a JWT", testKubeconfig(t, "opaque-token"), TokenNotRenewable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRenewFixture(t, t0, tc.kubeconfig)
			f.run(0)
			f.next(tc.want)
			f.clock.Step(1000 * time.Hour)
			if n := len(f.tokenRequests()); n != 0 {
				t.Fatalf("%d token requests", n)
			}
			for _, a := range f.local.Actions() {
				if a.GetVerb() == "update" {
					t.Fatalf("the Secret was written: %v", a)
				}
			}
		})
	}
}

func TestRenewerRetriesAFailedRenewal(t *testing.T) {
	f := newRenewFixture(t, t0.Add(50*time.Minute), testKubeconfig(t, saToken(t, t0, t0.Add(time.Hour))))
	fail := true
	f.issue = func(req *authenticationv1.TokenRequest) (string, error) {
		if fail {
			return "", apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "svcmirror-remote-reader", nil)
		}
		now := f.clock.Now()
		return saToken(t, now, now.Add(time.Hour)), nil
	}
	f.run(0)
	s := f.next(TokenRenewFailed)
	if !strings.Contains(s.Err.Error(), "forbidden") || !s.RenewAt.Equal(t0.Add(50*time.Minute+5*time.Second)) {
		t.Fatalf("failure %+v, want forbidden and a retry in 5s", s)
	}
	f.clock.Step(5 * time.Second)
	s = f.next(TokenRenewFailed)
	if !s.RenewAt.Equal(t0.Add(50*time.Minute + 15*time.Second)) {
		t.Fatalf("second retry at %s, want 10s after the first", s.RenewAt)
	}
	f.mu.Lock()
	fail = false
	f.mu.Unlock()
	f.clock.Step(10 * time.Second)
	f.next(TokenRenewed)
}

func TestRenewerYieldsToAConcurrentRenewal(t *testing.T) {
	kubeconfig := testKubeconfig(t, saToken(t, t0, t0.Add(time.Hour)))
	f := newRenewFixture(t, t0.Add(50*time.Minute), kubeconfig)
	// Another replica renews first: its Secret update lands just before
	// ours, whose update then conflicts.
	theirs := saToken(t, t0.Add(50*time.Minute), t0.Add(110*time.Minute))
	first := true
	f.local.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !first {
			return false, nil, nil
		}
		first = false
		s := a.(k8stesting.UpdateAction).GetObject().(*corev1.Secret).DeepCopy()
		s.Data[KubeconfigKey], _ = ReplaceToken(kubeconfig, theirs)
		if err := f.local.Tracker().Update(corev1.SchemeGroupVersion.WithResource("secrets"), s, testNS); err != nil {
			t.Error(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, testSecret, nil)
	})
	f.run(0)
	s := f.next(TokenScheduled)
	if !s.Expiry.Equal(t0.Add(110 * time.Minute)) {
		t.Fatalf("after the conflict: %+v, want the other replica's token (expiry t0+110m)", s)
	}
	if got := f.secretToken(); got != theirs {
		t.Fatal("the other replica's token was overwritten")
	}
	if n := len(f.tokenRequests()); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

func TestRenewerRejectsABadFraction(t *testing.T) {
	for _, fr := range []float64{-0.1, 1, 1.5} {
		if _, err := NewRenewer(RenewerConfig{Local: fake.NewClientset(), Namespace: "ns", SecretName: "s", Fraction: fr}); err == nil {
			t.Errorf("fraction %v accepted", fr)
		}
	}
}

func TestRenewerWaitsForAMissingSecret(t *testing.T) {
	f := newRenewFixture(t, t0.Add(time.Minute), nil)
	f.run(0)
	f.next(TokenSecretMissing)
	_, err := f.local.CoreV1().Secrets(testNS).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSecret},
		Data:       map[string][]byte{KubeconfigKey: testKubeconfig(t, saToken(t, t0, t0.Add(time.Hour)))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := f.next(TokenScheduled); !s.RenewAt.Equal(t0.Add(48 * time.Minute)) {
		t.Fatalf("scheduled at %s once the Secret appeared, want t0+48m", s.RenewAt)
	}
}
