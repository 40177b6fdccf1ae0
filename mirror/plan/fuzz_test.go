package plan

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzDesiredFor: whatever the remote Service's name, labels, annotations
// and ports, DesiredFor never panics, and what it returns carries valid
// names, the ownership labels and the fq-name annotation.
func FuzzDesiredFor(f *testing.F) {
	f.Add("web", "app", "web", "note", "x", int32(80), "db-0", true, false)
	f.Add(strings.Repeat("long-", 15)+"name", "mirror.linkerd.io/x", "y", "service.kubernetes.io/topology-mode", "Auto", int32(65535), "0-db", true, true)
	f.Add("", "", "", "", "", int32(0), "", false, true)
	f.Fuzz(func(t *testing.T, name, labelKey, labelValue, annKey, annValue string, port int32, host string, ready, isHeadless bool) {
		svc := remoteService(name, withLabels(map[string]string{"mirror.linkerd.io/exported": "true", labelKey: labelValue}),
			withAnnotations(map[string]string{annKey: annValue}), withPorts(svcPort("p", port, port)))
		if isHeadless {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		d, err := DesiredFor(testLink(), RemoteState{Service: svc, Endpoints: []RemoteEndpoint{{Hostname: host, Ready: ready}}}, ModeGateway, liveGW)
		if err != nil {
			if _, ok := err.(*InvalidServiceError); !ok {
				t.Fatalf("error %T %v, want *InvalidServiceError", err, err)
			}
			return
		}
		objs := []*corev1.Service{d.Service}
		for _, em := range d.EndpointMirrors {
			objs = append(objs, em.Service)
		}
		for _, o := range objs {
			if errs := validation.IsDNS1035Label(o.Name); len(errs) > 0 {
				t.Fatalf("Service name %q: %v", o.Name, errs)
			}
			if !IsOwnedBy(o, testCluster) || o.Annotations[AnnotationRemoteSvcFQName] == "" {
				t.Fatalf("Service %s lacks the ownership mark: labels %v annotations %v", o.Name, o.Labels, o.Annotations)
			}
		}
		if d.Endpoints == nil && d.Headless == nil {
			t.Fatal("a gateway-mode mirror without Endpoints")
		}
	})
}
