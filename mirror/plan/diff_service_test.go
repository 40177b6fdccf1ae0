package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPlanService(t *testing.T) {
	desired := wantWebMirror()
	// stored is desired as the API server returns it once created.
	stored := func(opts ...svcOption) *corev1.Service {
		s := apiServerService(t, desired)
		for _, o := range opts {
			o(s)
		}
		return s
	}
	// updated is what PlanService should write over stored: stored with the
	// owned fields of want.
	updated := func(existing, want *corev1.Service) *corev1.Service {
		u := existing.DeepCopy()
		u.Labels, u.Annotations, u.Spec.Ports = want.Labels, want.Annotations, want.Spec.Ports
		u.Spec.Type, u.Spec.Selector = corev1.ServiceTypeClusterIP, nil
		return u
	}
	h2c := "kubernetes.io/h2c"
	relabelled := wantWebMirror(withLabels(merge(owned(), map[string]string{"app": "web"})))
	newRV := wantWebMirror(withAnnotations(merge(webSvcAnns, map[string]string{AnnotationRemoteResourceVersion: "43"})))
	newPort := wantWebMirror(withPorts(svcPort("http", 8080, 8080)))
	twoPorts := wantWebMirror(withPorts(svcPort("http", 80, 8080), svcPort("metrics", 9090, 9090)))
	newTarget := wantWebMirror(withPorts(svcPort("http", 80, 9000)))
	namedTarget := wantWebMirror(withPorts(corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}))
	renamed := wantWebMirror(withPorts(svcPort("web", 80, 8080)))
	udp := wantWebMirror(withPorts(corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolUDP, Port: 80, TargetPort: intstr.FromInt32(8080)}))
	withAppProtocol := wantWebMirror(withPorts(corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: &h2c}))
	reordered := wantWebMirror(withPorts(svcPort("metrics", 9090, 9090), svcPort("http", 80, 8080)))

	for _, tc := range []struct {
		name       string
		desired    *corev1.Service
		existing   *corev1.Service
		wantAction Action
		wantObject *corev1.Service
	}{
		{"Nothing desired and nothing there needs nothing", nil, nil, ActionNone, nil},
		{"A missing mirror is created as desired", desired, nil, ActionCreate, desired},
		{"A mirror no longer desired is deleted", nil, stored(), ActionDelete, stored()},
		{"A Service no longer desired but not marked as a mirror is a conflict", nil, stored(withLabels(map[string]string{"app": "web"})), ActionConflict, nil},
		{"A Service of the mirror's name without the ownership mark is a conflict", desired, stored(withLabels(map[string]string{"app": "web"})), ActionConflict, nil},
		{"A mirror of the same name for another cluster is a conflict", desired, stored(withLabels(OwnershipLabels("west"))), ActionConflict, nil},

		{"A mirror already right needs nothing", desired, stored(), ActionNone, nil},
		{"Server-assigned fields are ignored", desired, stored(withClusterIP("10.96.99.99"), func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		}), ActionNone, nil},
		{"A port whose protocol and targetPort were left to defaults is already right", wantWebMirror(withPorts(corev1.ServicePort{Name: "http", Port: 80})),
			stored(withPorts(corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)})), ActionNone, nil},
		{"A nodePort on the existing port is ignored", desired, stored(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), ActionNone, nil},
		{"An empty appProtocol equals none", desired, stored(func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = new(string) }), ActionNone, nil},
		{"Empty label and annotation maps equal missing ones", localService("x", withLabels(owned()), withPorts(svcPort("http", 80, 80)), withAnnotations(map[string]string{})),
			apiServerService(t, localService("x", withLabels(owned()), withPorts(svcPort("http", 80, 80)))), ActionNone, nil},
		{"An existing empty type equals ClusterIP", desired, stored(withType("")), ActionNone, nil},

		{"A remote label change updates the mirror", relabelled, stored(), ActionUpdate, updated(stored(), relabelled)},
		{"A label added by someone else is removed, since we own the whole map", desired, stored(withLabels(merge(owned(), map[string]string{"extra": "x"}))), ActionUpdate, updated(stored(), desired)},
		{"A new remote resourceVersion updates the mirror", newRV, stored(), ActionUpdate, updated(stored(), newRV)},
		{"A port number change updates the mirror", newPort, stored(), ActionUpdate, updated(stored(), newPort)},
		{"An added port updates the mirror", twoPorts, stored(), ActionUpdate, updated(stored(), twoPorts)},
		{"A removed port updates the mirror", desired, apiServerService(t, twoPorts), ActionUpdate, updated(apiServerService(t, twoPorts), desired)},
		{"A targetPort change updates the mirror", newTarget, stored(), ActionUpdate, updated(stored(), newTarget)},
		{"A named targetPort updates the mirror", namedTarget, stored(), ActionUpdate, updated(stored(), namedTarget)},
		{"A renamed port updates the mirror", renamed, stored(), ActionUpdate, updated(stored(), renamed)},
		{"A protocol change updates the mirror", udp, stored(), ActionUpdate, updated(stored(), udp)},
		{"An appProtocol change updates the mirror", withAppProtocol, stored(), ActionUpdate, updated(stored(), withAppProtocol)},
		{"Reordered ports update the mirror, keeping the remote's order", reordered, apiServerService(t, twoPorts), ActionUpdate, updated(apiServerService(t, twoPorts), reordered)},
		{"A selector added by someone else is removed", desired, stored(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web"} }), ActionUpdate, updated(stored(), desired)},
		{"A type changed by someone else is set back to ClusterIP", desired, stored(withType(corev1.ServiceTypeNodePort), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			ActionUpdate, updated(stored(withType(corev1.ServiceTypeNodePort)), desired)},
		{"An ExternalName mirror is set back to ClusterIP and loses its external name",
			desired, stored(withType(corev1.ServiceTypeExternalName), func(s *corev1.Service) { s.Spec.ExternalName = "example.com" }),
			ActionUpdate, updated(stored(), desired)},

		{"A mirror turning headless is recreated", wantWebMirror(headless()), stored(), ActionRecreate, wantWebMirror(headless())},
		{"A headless mirror turning ClusterIP is recreated", desired, apiServerService(t, wantWebMirror(headless())), ActionRecreate, desired},
		{"A headless mirror already right needs nothing", wantWebMirror(headless()), apiServerService(t, wantWebMirror(headless())), ActionNone, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var desiredBefore, existingBefore *corev1.Service
			if tc.desired != nil {
				desiredBefore = tc.desired.DeepCopy()
			}
			if tc.existing != nil {
				existingBefore = tc.existing.DeepCopy()
			}
			action, obj := PlanService(tc.desired, tc.existing)
			if action != tc.wantAction {
				t.Errorf("PlanService() action = %v, want %v", action, tc.wantAction)
			}
			if diff := cmp.Diff(tc.wantObject, obj); diff != "" {
				t.Errorf("PlanService() object mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(desiredBefore, tc.desired); diff != "" {
				t.Errorf("PlanService() modified desired:\n%s", diff)
			}
			if diff := cmp.Diff(existingBefore, tc.existing); diff != "" {
				t.Errorf("PlanService() modified existing:\n%s", diff)
			}
		})
	}
}

// An update must be safe under optimistic concurrency and keep every field
// the API server or others own.
func TestPlanServiceUpdateKeepsFieldsItDoesNotOwn(t *testing.T) {
	existing := apiServerService(t, wantWebMirror())
	_, obj := PlanService(wantWebMirror(withPorts(svcPort("http", 81, 8080))), existing)
	if obj == nil {
		t.Fatal("PlanService() returned no object")
	}
	for _, check := range []struct {
		field     string
		got, want any
	}{
		{"resourceVersion", obj.ResourceVersion, "1001"},
		{"uid", obj.UID, existing.UID},
		{"clusterIP", obj.Spec.ClusterIP, existing.Spec.ClusterIP},
		{"clusterIPs", obj.Spec.ClusterIPs, existing.Spec.ClusterIPs},
		{"ipFamilies", obj.Spec.IPFamilies, existing.Spec.IPFamilies},
		{"ipFamilyPolicy", obj.Spec.IPFamilyPolicy, existing.Spec.IPFamilyPolicy},
		{"sessionAffinity", obj.Spec.SessionAffinity, existing.Spec.SessionAffinity},
		{"internalTrafficPolicy", obj.Spec.InternalTrafficPolicy, existing.Spec.InternalTrafficPolicy},
		{"managedFields", obj.ManagedFields, existing.ManagedFields},
	} {
		if diff := cmp.Diff(check.want, check.got); diff != "" {
			t.Errorf("update changed %s (-want +got):\n%s", check.field, diff)
		}
	}
	if obj.Spec.Ports[0].Port != 81 {
		t.Errorf("update ports = %v, want port 81", obj.Spec.Ports)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{
		ActionNone: "None", ActionCreate: "Create", ActionUpdate: "Update", ActionDelete: "Delete",
		ActionRecreate: "Recreate", ActionConflict: "Conflict", Action(42): "Action(42)", Action(-1): "Action(-1)",
	} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}
