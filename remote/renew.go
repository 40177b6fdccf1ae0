package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// DefaultRenewalFraction is when a token is renewed: at 80% of its life,
// which leaves a fifth of it (4.8 h of a 24 h token) for retries while the
// remote API server is away.
const DefaultRenewalFraction = 0.8

// Retry timing of a failed renewal: 5 s, doubling up to 5 min, so a remote
// API server that is away costs a request every few minutes at most while
// the token still has time left.
const (
	renewRetryFirst = 5 * time.Second
	renewRetryMax   = 5 * time.Minute
	// conflictRecheck bounds the wait after a 409 on the Secret: the
	// informer normally shows the newer Secret (another replica's renewal)
	// well before.
	conflictRecheck = time.Second
	// renewRequestTimeout bounds one TokenRequest or Secret update.
	renewRequestTimeout = 30 * time.Second
)

// TokenPhase says where a credentials Secret's token stands.
type TokenPhase string

const (
	// TokenScheduled: the token is valid and will be renewed at RenewAt.
	TokenScheduled TokenPhase = "Scheduled"
	// TokenRenewed: a new token was just written to the Secret.
	TokenRenewed TokenPhase = "Renewed"
	// TokenRenewFailed: renewal failed (Err says why); it is retried.
	TokenRenewFailed TokenPhase = "RenewFailed"
	// TokenExpired: the token expired before it could be renewed (the
	// daemon was down past its expiry); only a new link can fix it.
	TokenExpired TokenPhase = "Expired"
	// TokenLongLived: the token never expires; it is left alone.
	TokenLongLived TokenPhase = "LongLived"
	// TokenNotRenewable: the kubeconfig holds no ServiceAccount token
	// (client certificate, exec plugin, other token); it is left alone.
	TokenNotRenewable TokenPhase = "NotRenewable"
	// TokenSecretMissing: the credentials Secret or its kubeconfig key is
	// missing.
	TokenSecretMissing TokenPhase = "SecretMissing"
)

// TokenState is what a Renewer reports after each decision.
type TokenState struct {
	Phase TokenPhase
	// Expiry is the current token's expiry; zero when unknown or never.
	Expiry time.Time
	// RenewAt is when the next renewal is due (Scheduled, Renewed) or
	// retried (RenewFailed); zero otherwise.
	RenewAt time.Time
	// Err explains RenewFailed, Expired, NotRenewable and SecretMissing.
	Err error
}

func (s TokenState) same(o TokenState) bool {
	return s.Phase == o.Phase && s.Expiry.Equal(o.Expiry) && s.RenewAt.Equal(o.RenewAt) && errString(s.Err) == errString(o.Err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// RenewerConfig configures a Renewer.
type RenewerConfig struct {
	// Local is the local (source) cluster, where the Secret lives.
	Local kubernetes.Interface
	// Namespace and SecretName name the credentials Secret.
	Namespace, SecretName string
	// NewRemoteClient makes a client for the remote cluster from the
	// Secret's kubeconfig; the TokenRequest is sent with the token that is
	// being renewed. Default: ConfigFromKubeconfig and NewClient.
	NewRemoteClient func(kubeconfig []byte) (kubernetes.Interface, error)
	// Fraction of a token's life after which it is renewed, in (0, 1);
	// DefaultRenewalFraction when zero.
	Fraction float64
	// Clock is the time source; the real clock when nil.
	Clock clock.Clock
	// OnState, if set, hears of every change of state, so the caller can
	// report it (Event, status, metric). It must not block.
	OnState func(TokenState)
}

// Renewer keeps the bearer token in one credentials Secret fresh. At
// Fraction of the token's life it asks the remote API server for a new
// token of the same ServiceAccount and lifetime (TokenRequest, which the
// ServiceAccount may do for itself only), and writes the Secret back with
// only that token changed. Updates carry the resourceVersion read, so two
// replicas renewing at once cannot overwrite each other: the loser sees the
// winner's fresh token and waits for its renewal time instead.
type Renewer struct {
	cfg RenewerConfig

	mu    sync.Mutex
	state TokenState
}

// NewRenewer checks cfg and applies its defaults.
func NewRenewer(cfg RenewerConfig) (*Renewer, error) {
	if cfg.Local == nil || cfg.Namespace == "" || cfg.SecretName == "" {
		return nil, errors.New("renewer needs a local client, a namespace and a Secret name")
	}
	if cfg.Fraction == 0 {
		cfg.Fraction = DefaultRenewalFraction
	}
	if cfg.Fraction <= 0 || cfg.Fraction >= 1 {
		return nil, fmt.Errorf("renewal fraction must be between 0 and 1 (exclusive), not %v", cfg.Fraction)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.NewRemoteClient == nil {
		cfg.NewRemoteClient = func(kubeconfig []byte) (kubernetes.Interface, error) {
			rc, err := ConfigFromKubeconfig(kubeconfig, 5, 10)
			if err != nil {
				return nil, err
			}
			return NewClient(rc)
		}
	}
	return &Renewer{cfg: cfg}, nil
}

// State is the latest state reported.
func (r *Renewer) State() TokenState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Run watches the Secret and renews its token when due, until ctx ends. It
// returns nil then; it never gives up on its own.
func (r *Renewer) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("secret", klog.KRef(r.cfg.Namespace, r.cfg.SecretName))
	ctx = klog.NewContext(ctx, logger)

	factory := informers.NewSharedInformerFactoryWithOptions(r.cfg.Local, 0,
		informers.WithNamespace(r.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", r.cfg.SecretName).String()
		}))
	inf := factory.Core().V1().Secrets().Informer()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify,
	})
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}

	l := &renewLoop{r: r, store: inf.GetStore(), retry: renewRetryFirst}
	var timer <-chan time.Time
	decide, decidedOn := true, ""
	for {
		if decide {
			st, wait := l.step(ctx)
			decidedOn = l.currentVersion()
			timer = nil
			if wait > 0 {
				// The timer exists before the state is reported, so that
				// whoever acts on the report (a test stepping a fake
				// clock) cannot get ahead of it.
				timer = r.cfg.Clock.After(wait)
			}
			if st != nil {
				r.report(ctx, *st)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// Only a new version of the Secret is news: the informer's
			// first delivery, or the echo of our own write, must not cut
			// short a retry back-off or a schedule.
			decide = l.currentVersion() != decidedOn
		case <-timer:
			decide = true
		}
	}
}

// renewLoop is one Run's memory between decisions.
type renewLoop struct {
	r     *Renewer
	store cache.Store
	// written is the Secret as this loop last wrote it and replacedRV the
	// version it replaced: until the informer shows the write, its cache
	// still holds the old token, which must not be renewed a second time.
	written    *corev1.Secret
	replacedRV string
	// retry is the wait before the next attempt after a failure.
	retry time.Duration
}

// current returns the Secret as it stands, or nil.
func (l *renewLoop) current() *corev1.Secret {
	obj, found, _ := l.store.GetByKey(l.r.cfg.Namespace + "/" + l.r.cfg.SecretName)
	if !found {
		l.written = nil
		return nil
	}
	s := obj.(*corev1.Secret)
	if l.written != nil && s.ResourceVersion == l.replacedRV {
		return l.written
	}
	l.written = nil
	return s
}

// currentVersion identifies the Secret as current sees it (its
// resourceVersion and kubeconfig); empty when there is none.
func (l *renewLoop) currentVersion() string {
	if s := l.current(); s != nil {
		return s.ResourceVersion + "\x00" + string(s.Data[KubeconfigKey])
	}
	return ""
}

// step makes one decision: it renews the token if it is due and returns the
// state to report (nil for none) and how long to wait before the next
// decision (0: until the Secret changes).
func (l *renewLoop) step(ctx context.Context) (*TokenState, time.Duration) {
	return l.decide(ctx, l.current(), true)
}

// decide is step on a given Secret; afterConflict allows one re-read of the
// Secret when an update conflicts.
func (l *renewLoop) decide(ctx context.Context, secret *corev1.Secret, afterConflict bool) (*TokenState, time.Duration) {
	cfg := l.r.cfg
	if secret == nil {
		return &TokenState{Phase: TokenSecretMissing, Err: fmt.Errorf("credentials Secret %s/%s not found", cfg.Namespace, cfg.SecretName)}, 0
	}
	kubeconfig := secret.Data[KubeconfigKey]
	if len(kubeconfig) == 0 {
		return &TokenState{Phase: TokenSecretMissing, Err: fmt.Errorf("credentials Secret %s/%s has no %q key", cfg.Namespace, cfg.SecretName, KubeconfigKey)}, 0
	}
	token, err := BearerToken(kubeconfig)
	if err != nil {
		return &TokenState{Phase: TokenNotRenewable, Err: err}, 0
	}
	claims, err := ParseTokenClaims(token)
	if err != nil {
		return &TokenState{Phase: TokenNotRenewable, Err: err}, 0
	}
	if !claims.Expires() {
		return &TokenState{Phase: TokenLongLived}, 0
	}
	now := cfg.Clock.Now()
	if !now.Before(claims.Expiry) {
		return &TokenState{Phase: TokenExpired, Expiry: claims.Expiry, Err: fmt.Errorf(
			"token expired at %s; run `svcmirror link` again and apply its output",
			claims.Expiry.UTC().Format(time.RFC3339))}, 0
	}
	lifetime := claims.Lifetime()
	if lifetime <= 0 {
		return &TokenState{Phase: TokenNotRenewable, Expiry: claims.Expiry, Err: errors.New("token has an expiry but no issue time, so its lifetime is unknown")}, 0
	}
	renewAt := renewalTime(claims, cfg.Fraction)
	if now.Before(renewAt) {
		l.retry = renewRetryFirst
		return &TokenState{Phase: TokenScheduled, Expiry: claims.Expiry, RenewAt: renewAt}, renewAt.Sub(now)
	}

	newKubeconfig, newClaims, err := l.requestToken(ctx, kubeconfig, claims, lifetime)
	if err == nil {
		updated := secret.DeepCopy()
		updated.Data[KubeconfigKey] = newKubeconfig
		uctx, cancel := context.WithTimeout(ctx, renewRequestTimeout)
		var written *corev1.Secret
		written, err = cfg.Local.CoreV1().Secrets(cfg.Namespace).Update(uctx, updated, metav1.UpdateOptions{})
		cancel()
		if apierrors.IsConflict(err) {
			// Someone else changed the Secret (another replica renewed it,
			// or an operator applied a new link): decide again on theirs,
			// read live, since the informer may not show it yet.
			klog.FromContext(ctx).V(2).Info("Credentials Secret changed while renewing; deciding again on the newer one")
			if !afterConflict {
				return nil, conflictRecheck
			}
			gctx, cancel := context.WithTimeout(ctx, renewRequestTimeout)
			live, gerr := cfg.Local.CoreV1().Secrets(cfg.Namespace).Get(gctx, cfg.SecretName, metav1.GetOptions{})
			cancel()
			if gerr != nil {
				return nil, conflictRecheck
			}
			if secret != l.written {
				l.replacedRV = secret.ResourceVersion
			}
			l.written = live
			return l.decide(ctx, live, false)
		}
		if err == nil {
			l.written, l.replacedRV = written, secret.ResourceVersion
			l.retry = renewRetryFirst
			return &TokenState{Phase: TokenRenewed, Expiry: newClaims.Expiry, RenewAt: renewalTime(newClaims, cfg.Fraction)}, renewalTime(newClaims, cfg.Fraction).Sub(now)
		}
		err = fmt.Errorf("update credentials Secret: %w", err)
	}
	wait := l.retry
	if left := claims.Expiry.Sub(now); wait > left {
		wait = left // decide again at expiry at the latest, to report it
	}
	l.retry = min(2*l.retry, renewRetryMax)
	return &TokenState{Phase: TokenRenewFailed, Expiry: claims.Expiry, RenewAt: now.Add(wait), Err: err}, wait
}

// requestToken asks the remote API server, with the current token, for a
// new token of the same ServiceAccount, lifetime and audiences, and
// returns the kubeconfig holding it.
func (l *renewLoop) requestToken(ctx context.Context, kubeconfig []byte, claims TokenClaims, lifetime time.Duration) ([]byte, TokenClaims, error) {
	client, err := l.r.cfg.NewRemoteClient(kubeconfig)
	if err != nil {
		return nil, TokenClaims{}, fmt.Errorf("remote client: %w", err)
	}
	seconds := int64(lifetime / time.Second)
	ctx, cancel := context.WithTimeout(ctx, renewRequestTimeout)
	defer cancel()
	tr, err := client.CoreV1().ServiceAccounts(claims.Namespace).CreateToken(ctx, claims.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds, Audiences: claims.Audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, TokenClaims{}, fmt.Errorf("request a token for ServiceAccount %s/%s from the remote API server: %w", claims.Namespace, claims.ServiceAccount, err)
	}
	newClaims, err := ParseTokenClaims(tr.Status.Token)
	if err != nil {
		return nil, TokenClaims{}, fmt.Errorf("the remote API server issued an unreadable token: %w", err)
	}
	out, err := ReplaceToken(kubeconfig, tr.Status.Token)
	if err != nil {
		return nil, TokenClaims{}, err
	}
	return out, newClaims, nil
}

// renewalTime is Fraction of the way through the token's life.
func renewalTime(c TokenClaims, fraction float64) time.Time {
	return c.IssuedAt.Add(time.Duration(fraction * float64(c.Lifetime())))
}

// report logs a change of state once and passes it on.
func (r *Renewer) report(ctx context.Context, st TokenState) {
	r.mu.Lock()
	unchanged := r.state.same(st)
	r.state = st
	r.mu.Unlock()
	if unchanged {
		return
	}
	logger := klog.FromContext(ctx)
	switch st.Phase {
	case TokenRenewed:
		logger.Info("Renewed the remote token", "expiry", st.Expiry, "nextRenewal", st.RenewAt)
	case TokenScheduled:
		logger.V(2).Info("Remote token renewal scheduled", "expiry", st.Expiry, "renewAt", st.RenewAt)
	case TokenRenewFailed:
		logger.Error(st.Err, "Renewing the remote token failed; will retry", "expiry", st.Expiry, "retryAt", st.RenewAt)
	case TokenExpired:
		logger.Error(st.Err, "Remote token expired")
	case TokenLongLived:
		logger.Info("Remote token never expires; not renewing it")
	case TokenNotRenewable:
		logger.Info("Remote credentials hold no renewable ServiceAccount token; not renewing them", "reason", st.Err.Error())
	case TokenSecretMissing:
		logger.V(2).Info("No credentials to renew", "reason", st.Err.Error())
	}
	if r.cfg.OnState != nil {
		r.cfg.OnState(st)
	}
}
