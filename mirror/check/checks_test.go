package check

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcmirror/svcmirror/mirror/plan"
)

// wantResult fails t unless r has verdict want and its detail contains
// every one of texts.
func wantResult(t *testing.T, r Result, want Verdict, texts ...string) {
	t.Helper()
	if r.Verdict != want {
		t.Errorf("%s: %s (%s), want %s", r.Name, r.Verdict, r.Detail, want)
	}
	for _, s := range texts {
		if !strings.Contains(r.Detail, s) {
			t.Errorf("%s: detail %q lacks %q", r.Name, r.Detail, s)
		}
	}
	if (r.Verdict == Fail || r.Verdict == Warn) && r.Fix == "" {
		t.Errorf("%s: %s without a fix", r.Name, r.Verdict)
	}
}

// gatewayServer is a gateway health endpoint answering status on /ready;
// the Link's probe is pointed at it, and its port returned.
func gatewayServer(t *testing.T, e *env, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	e.setProbePort(u.Port())
	return u.Port()
}

func TestAHealthyLinkPassesEveryCheck(t *testing.T) {
	e := newEnv(t)
	gatewayServer(t, e, http.StatusOK)
	create(t, e.local, mirrorService("apps", "web"), mirrorService("apps", "flat", "multicluster.linkerd.io/remote-discovery", "east"))
	create(t, e.local, mirrorEndpoints("apps", "web", []string{"127.0.0.1"}, nil))
	create(t, e.remote, remoteService("apps", "web", "mirror.linkerd.io/exported", "true"), remoteService("apps", "flat", "mirror.linkerd.io/exported", "remote-discovery"))
	r := e.run()
	if !r.Passed || len(r.Checks) != len(Names()) {
		t.Fatalf("report %+v, want every check passed", r)
	}
	for _, c := range r.Checks {
		if c.Verdict != OK {
			t.Errorf("%s: %s (%s), want ok", c.Name, c.Verdict, c.Detail)
		}
	}
	if e.reviewNamespace != testNS {
		t.Errorf("rules reviewed in namespace %q, want the token's ServiceAccount's %q", e.reviewNamespace, testNS)
	}
}

func TestCRD(t *testing.T) {
	t.Run("a missing CRD fails and skips what needs a Link", func(t *testing.T) {
		e := newEnv(t)
		e.local.Resources = nil
		r := e.run()
		wantResult(t, r.Checks[0], Fail, "links.multicluster.linkerd.io is not installed")
		for _, c := range r.Checks {
			switch c.Name {
			case NameLink, NameCredentials, NameRemoteAccess, NameToken, NameGateway, NameMirrorEndpoints, NameOrphans:
				wantResult(t, c, Skipped, "because link-crd failed")
			}
		}
		if r.Passed {
			t.Error("report passed")
		}
	})
	t.Run("a CRD without v1alpha3 names the versions it serves", func(t *testing.T) {
		e := newEnv(t)
		e.local.Resources[0].GroupVersion = "multicluster.linkerd.io/v1alpha2"
		wantResult(t, e.result(NameCRD), Fail, "serves v1alpha2 but not v1alpha3")
	})
}

func TestLink(t *testing.T) {
	t.Run("a missing Link fails", func(t *testing.T) {
		e := newEnv(t)
		e.cfg.LinkName = "west"
		wantResult(t, e.result(NameLink), Fail, "Link linkerd-multicluster/west does not exist")
	})
	t.Run("an invalid Link names each bad field", func(t *testing.T) {
		e := newEnv(t)
		e.setLink(func(spec map[string]any) { spec["gatewayPort"] = "99999"; delete(spec, "targetClusterName") })
		wantResult(t, e.result(NameLink), Fail, "spec.targetClusterName", "spec.gatewayPort")
	})
}

func TestCredentials(t *testing.T) {
	t.Run("a missing Secret fails", func(t *testing.T) {
		e := newEnv(t)
		_ = e.local.CoreV1().Secrets(testNS).Delete(context.Background(), testSecret, metav1.DeleteOptions{})
		r := e.run()
		wantResult(t, r.Checks[2], Fail, "cluster-credentials-east (spec.clusterCredentialsSecret) does not exist")
		wantResult(t, r.Checks[3], Skipped, "because credentials failed")
	})
	t.Run("an unparsable kubeconfig fails", func(t *testing.T) {
		e := newEnv(t)
		e.setSecret([]byte("this: [is not a kubeconfig"))
		wantResult(t, e.result(NameCredentials), Fail, "kubeconfig does not parse")
	})
}

func TestRemoteAccess(t *testing.T) {
	t.Run("a missing permission fails naming it", func(t *testing.T) {
		e := newEnv(t)
		e.rules[1].Verbs = []string{"list"}
		e.rules[0].Verbs = []string{"list"}
		r := e.result(NameRemoteAccess)
		wantResult(t, r, Fail, "may not watch services, watch endpointslices.discovery.k8s.io")
		if strings.Contains(r.Detail, "list services") {
			t.Errorf("detail %q names a permission that is granted", r.Detail)
		}
	})
	t.Run("more than needed warns naming the extra", func(t *testing.T) {
		e := newEnv(t)
		e.rules = append(e.rules,
			authorizationv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}},
			authorizationv1.ResourceRule{Verbs: []string{"delete"}, APIGroups: []string{""}, Resources: []string{"services"}})
		wantResult(t, e.result(NameRemoteAccess), Warn, "may also get endpointslices.discovery.k8s.io, delete services")
	})
	t.Run("a cluster-admin token warns that it may do everything", func(t *testing.T) {
		e := newEnv(t)
		e.rules = []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		wantResult(t, e.result(NameRemoteAccess), Warn, "may also * *.*")
	})
	t.Run("no token renewal warns", func(t *testing.T) {
		e := newEnv(t)
		e.rules[2].ResourceNames = []string{"someone-else"}
		wantResult(t, e.result(NameRemoteAccess), Warn, "may not create serviceaccounts/token for linkerd-multicluster/svcmirror-remote-reader", "may also create serviceaccounts/token (someone-else)")
	})
	t.Run("rejected credentials fail", func(t *testing.T) {
		e := newEnv(t)
		e.reviewErr = apierrors.NewUnauthorized("token expired")
		wantResult(t, e.result(NameRemoteAccess), Fail, "rejects the credentials (401 Unauthorized)")
	})
	t.Run("an unreachable API server fails", func(t *testing.T) {
		e := newEnv(t)
		e.reviewErr = errors.New("dial tcp: connection refused")
		wantResult(t, e.result(NameRemoteAccess), Fail, "does not answer", "connection refused")
	})
}

func TestTokenExpiry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		token    string
		want     Verdict
		contains string
	}{
		{"an expired token fails", serviceAccountJWT(testNow.Add(-25*time.Hour), testNow.Add(-time.Hour)), Fail, "expired at 2026-12-01T11:00:00Z, 1h0m0s ago"},
		{"a token with a fifth of its life left warns", serviceAccountJWT(testNow.Add(-90*24*time.Hour), testNow.Add(10*24*time.Hour)), Warn, "(10% of its 2400h0m0s life left)"},
		{"a fresh 24-hour token (the default) is ok", serviceAccountJWT(testNow.Add(-time.Hour), testNow.Add(23*time.Hour)), OK, "(96% of its 24h0m0s life left)"},
		{"a token of unknown life with less than a day left warns", jwtOf(map[string]any{"sub": "system:serviceaccount:" + testNS + ":" + testAccount, "exp": testNow.Add(23 * time.Hour).Unix()}), Warn, "in 23h0m0s"},
		{"a fresh token is ok", serviceAccountJWT(testNow.Add(-time.Hour), testNow.Add(47*time.Hour)), OK, "(98% of its 48h0m0s life left)"},
		{"a long-lived token is ok with a note", serviceAccountJWT(testNow.Add(-time.Hour), time.Time{}), OK, "long-lived token (no exp claim)"},
		{"an opaque token is ok with a note", "static-token", OK, "not a JWT"},
		{"a bad exp claim fails", jwtOf(map[string]any{"exp": "tomorrow"}), Fail, "exp claim is not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.setSecret(kubeconfigWithToken(t, tc.token))
			wantResult(t, e.result(NameToken), tc.want, tc.contains)
		})
	}
}

func TestLeader(t *testing.T) {
	t.Run("a live holder is ok", func(t *testing.T) {
		wantResult(t, newEnv(t).result(NameLeader), OK, "svcmirror-0 leads (renewed 2s ago, lease 30s)")
	})
	t.Run("no Lease fails", func(t *testing.T) {
		e := newEnv(t)
		_ = e.local.CoordinationV1().Leases(testNS).Delete(context.Background(), plan.LeaseName(testLink), metav1.DeleteOptions{})
		wantResult(t, e.result(NameLeader), Fail, "no Lease linkerd-multicluster/service-mirror-write-east")
	})
	t.Run("an expired Lease fails", func(t *testing.T) {
		e := newEnv(t)
		e.setLease("svcmirror-0", testNow.Add(-time.Minute), 30)
		wantResult(t, e.result(NameLeader), Fail, "svcmirror-0 last renewed it 1m0s ago, past its 30s duration")
	})
	t.Run("a Lease without holder fails", func(t *testing.T) {
		e := newEnv(t)
		e.setLease("", testNow, 30)
		wantResult(t, e.result(NameLeader), Fail, "has no holder")
	})
}

func TestGatewayProbe(t *testing.T) {
	t.Run("a gateway answering 200 is ok", func(t *testing.T) {
		e := newEnv(t)
		gatewayServer(t, e, http.StatusOK)
		wantResult(t, e.result(NameGateway), OK, "/ready answered in")
	})
	t.Run("a gateway answering 503 fails", func(t *testing.T) {
		e := newEnv(t)
		gatewayServer(t, e, http.StatusServiceUnavailable)
		wantResult(t, e.result(NameGateway), Fail, "no gateway address answers its probe", "503")
	})
	t.Run("a dead gateway fails", func(t *testing.T) {
		e := newEnv(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close() // nothing listens on its port now
		e.setProbePort(strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		wantResult(t, e.result(NameGateway), Fail, "no gateway address answers its probe", "connection refused")
	})
	t.Run("one dead address of two warns", func(t *testing.T) {
		e := newEnv(t)
		port := gatewayServer(t, e, http.StatusOK)
		e.setLink(func(spec map[string]any) {
			spec["gatewayAddress"] = "127.0.0.1,gone.example"
			spec["probeSpec"] = map[string]any{"path": "/ready", "port": port, "timeout": "2s"}
		})
		wantResult(t, e.result(NameGateway), Warn, "gone.example: does not resolve", "/ready answered in")
	})
	t.Run("a Link without probe is skipped with a note", func(t *testing.T) {
		e := newEnv(t)
		e.setLink(func(spec map[string]any) { delete(spec, "probeSpec") })
		wantResult(t, e.result(NameGateway), Skipped, "no probeSpec.path")
	})
	t.Run("a Link without gateway is skipped with a note", func(t *testing.T) {
		e := newEnv(t)
		e.setLink(func(spec map[string]any) { spec["gatewayAddress"] = "" })
		wantResult(t, e.result(NameGateway), Skipped, "no gateway")
	})
}

func TestMirrorEndpoints(t *testing.T) {
	t.Run("a mirror without ready address fails while its remote has ready endpoints", func(t *testing.T) {
		e := newEnv(t)
		create(t, e.local, mirrorService("apps", "web"), mirrorService("apps", "idle"), mirrorService("apps", "ok"))
		create(t, e.local, mirrorEndpoints("apps", "web", nil, []string{"192.0.2.10"}), mirrorEndpoints("apps", "idle", nil, nil), mirrorEndpoints("apps", "ok", []string{"192.0.2.10"}, nil))
		create(t, e.remote, remoteSlice("apps", "web", true, false), remoteSlice("apps", "idle", false))
		r := e.result(NameMirrorEndpoints)
		wantResult(t, r, Fail, "apps/web-east has no ready address while remote apps/web has 1 ready endpoint")
		if strings.Contains(r.Detail, "idle") || strings.Contains(r.Detail, "ok-east") {
			t.Errorf("detail %q names a mirror that is right", r.Detail)
		}
	})
	t.Run("an empty mirror of a remote without ready endpoints is ok", func(t *testing.T) {
		e := newEnv(t)
		create(t, e.local, mirrorService("apps", "idle"), mirrorService("apps", "flat", "multicluster.linkerd.io/remote-discovery", "east"))
		create(t, e.remote, remoteSlice("apps", "idle", false))
		wantResult(t, e.result(NameMirrorEndpoints), OK, "0 gateway-mode mirrors with ready endpoints, 1 mirror without because the remote Service has no ready endpoint", "1 remote-discovery mirror not checked")
	})
	t.Run("another link's mirrors are not looked at", func(t *testing.T) {
		e := newEnv(t)
		other := mirrorService("apps", "web")
		other.Labels["mirror.linkerd.io/cluster-name"] = "west"
		create(t, e.local, other)
		create(t, e.remote, remoteSlice("apps", "web", true))
		wantResult(t, e.result(NameMirrorEndpoints), OK, "0 gateway-mode mirrors with ready endpoints")
	})
}

func TestOrphanedMirrors(t *testing.T) {
	t.Run("mirrors of gone or unexported Services fail, named with the cause", func(t *testing.T) {
		e := newEnv(t)
		endpointMirror := mirrorService("apps", "db-0", "mirror.linkerd.io/headless-mirror-svc-name", "db-east")
		endpointMirror.Annotations["mirror.linkerd.io/remote-svc-fq-name"] = "db-0.db.apps.svc.cluster.local"
		create(t, e.local, mirrorService("apps", "web"), mirrorService("apps", "gone"), mirrorService("apps", "unexported"), mirrorService("apps", "db"), endpointMirror)
		create(t, e.remote, remoteService("apps", "web", "mirror.linkerd.io/exported", "true"), remoteService("apps", "unexported"), remoteService("apps", "db", "mirror.linkerd.io/exported", "true"))
		r := e.result(NameOrphans)
		wantResult(t, r, Fail, "2 orphaned mirrors:", "apps/gone-east (remote apps/gone no longer exists)", "apps/unexported-east (remote apps/unexported is no longer selected by the Link)")
		if strings.Contains(r.Detail, "web-east") || strings.Contains(r.Detail, "db") {
			t.Errorf("detail %q names a mirror of an exported Service", r.Detail)
		}
	})
	t.Run("mirrors of exported Services are ok", func(t *testing.T) {
		e := newEnv(t)
		create(t, e.local, mirrorService("apps", "web"), mirrorService("apps", "flat", "multicluster.linkerd.io/remote-discovery", "east"))
		create(t, e.remote, remoteService("apps", "web", "mirror.linkerd.io/exported", "true"), remoteService("apps", "flat", "mirror.linkerd.io/exported", "remote-discovery"))
		wantResult(t, e.result(NameOrphans), OK, "2 mirrors, each of an exported remote Service")
	})
}
