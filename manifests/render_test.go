package manifests

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// grants flattens a role's rules into sorted "group/resource verb [name]" lines.
func grants(t *testing.T, role *unstructured.Unstructured) []string {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	var out []string
	for _, r := range rules {
		m := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(m, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(m, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
		names, _, _ := unstructured.NestedStringSlice(m, "resourceNames")
		for _, g := range groups {
			for _, res := range resources {
				for _, v := range verbs {
					line := g + "/" + res + " " + v
					if len(names) > 0 {
						line += " " + strings.Join(names, ",")
					}
					out = append(out, line)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s among the objects", kind)
	return nil
}

func TestInstallRendersTheFilesForOneLink(t *testing.T) {
	objs, err := Install(InstallOptions{Link: "east", Namespace: "mc", Image: "registry.example/svcmirror:v1"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if o.GetKind() != "Namespace" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() != "mc" {
			t.Errorf("%s/%s is in namespace %q, want mc", o.GetKind(), o.GetName(), o.GetNamespace())
		}
		js, _ := json.Marshal(o.Object)
		for _, leftover := range []string{`-target"`, `"target"`, `=target"`, "linkerd-multicluster", "svcmirror:latest"} {
			if strings.Contains(string(js), leftover) {
				t.Errorf("%s/%s still holds %s: %s", o.GetKind(), o.GetName(), leftover, js)
			}
		}
	}
	want := []string{
		"Namespace/mc", "ServiceAccount/svcmirror-east", "ClusterRole/svcmirror-east", "ClusterRoleBinding/svcmirror-east",
		"Role/svcmirror-east", "RoleBinding/svcmirror-east",
		"Deployment/svcmirror-east", "Service/svcmirror-east-metrics", "PodDisruptionBudget/svcmirror-east",
	}
	if !slices.Equal(kinds, want) {
		t.Fatalf("objects = %q, want %q", kinds, want)
	}

	deploy := find(t, objs, "Deployment")
	podSpec, _, _ := unstructured.NestedMap(deploy.Object, "spec", "template", "spec")
	if podSpec["serviceAccountName"] != "svcmirror-east" {
		t.Errorf("serviceAccountName = %v", podSpec["serviceAccountName"])
	}
	c := podSpec["containers"].([]any)[0].(map[string]any)
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	for _, a := range []string{"run", "--namespace=mc", "--link=east"} {
		if !slices.Contains(args, a) {
			t.Errorf("args %q lack %s", args, a)
		}
	}
	if slices.Contains(args, "--enable-namespace-creation") {
		t.Error("namespace creation is on by default")
	}
	if c["image"] != "registry.example/svcmirror:v1" {
		t.Errorf("image = %v", c["image"])
	}
	env, _, _ := unstructured.NestedSlice(c, "env")
	var podName string
	for _, e := range env {
		if e := e.(map[string]any); e["name"] == "POD_NAME" {
			podName, _, _ = unstructured.NestedString(e, "valueFrom", "fieldRef", "fieldPath")
		}
	}
	if podName != "metadata.name" {
		t.Errorf("POD_NAME comes from %q, want the downward API's metadata.name", podName)
	}
	if r, _, _ := unstructured.NestedInt64(deploy.Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d, want 2", r)
	}
	terms, _, _ := unstructured.NestedSlice(podSpec, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
	if len(terms) != 1 {
		t.Fatalf("anti-affinity terms = %v", terms)
	}
	term := terms[0].(map[string]any)
	topo, _, _ := unstructured.NestedString(term, "podAffinityTerm", "topologyKey")
	sel, _, _ := unstructured.NestedStringMap(term, "podAffinityTerm", "labelSelector", "matchLabels")
	if topo != "kubernetes.io/hostname" || sel["svcmirror.io/link"] != "east" {
		t.Errorf("anti-affinity on %q for %v, want hostname for this link's pods", topo, sel)
	}
	podLabels, _, _ := unstructured.NestedStringMap(deploy.Object, "spec", "template", "metadata", "labels")
	pdb := find(t, objs, "PodDisruptionBudget")
	if m, _, _ := unstructured.NestedInt64(pdb.Object, "spec", "minAvailable"); m != 1 {
		t.Errorf("PDB minAvailable = %d, want 1", m)
	}
	pdbSel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
	svcSel, _, _ := unstructured.NestedStringMap(find(t, objs, "Service").Object, "spec", "selector")
	for name, s := range map[string]map[string]string{"PDB": pdbSel, "metrics Service": svcSel} {
		for k, v := range s {
			if podLabels[k] != v {
				t.Errorf("the %s selects %s=%s, which the pods do not carry (%v)", name, k, v, podLabels)
			}
		}
		if len(s) == 0 || s["svcmirror.io/link"] != "east" {
			t.Errorf("the %s selector %v does not pick this link's pods", name, s)
		}
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		b := find(t, objs, kind)
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		s := subjects[0].(map[string]any)
		if len(subjects) != 1 || s["name"] != "svcmirror-east" || s["namespace"] != "mc" {
			t.Errorf("%s subjects = %v", kind, subjects)
		}
	}
}

// TestInstallIsLeastPrivilege pins every permission the daemon gets: a new
// one must be added here on purpose.
func TestInstallIsLeastPrivilege(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		enableNamespaceCreation bool
		wantCluster             []string
	}{
		{"by default", false, nil},
		{"with namespace creation", true, []string{"/namespaces create"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Install(InstallOptions{Link: "east", EnableNamespaceCreation: tc.enableNamespaceCreation})
			if err != nil {
				t.Fatal(err)
			}
			var wantCluster []string
			for _, v := range []string{"get", "list", "watch", "create", "update", "delete"} {
				wantCluster = append(wantCluster, "/services "+v, "/endpoints "+v, "discovery.k8s.io/endpointslices "+v)
			}
			wantCluster = append(wantCluster, "/namespaces list", "/namespaces watch")
			wantCluster = append(wantCluster, tc.wantCluster...)
			slices.Sort(wantCluster)
			if got := grants(t, find(t, objs, "ClusterRole")); !slices.Equal(got, wantCluster) {
				t.Errorf("ClusterRole grants\n%q\nwant\n%q", got, wantCluster)
			}
			wantNS := []string{
				"multicluster.linkerd.io/links get", "multicluster.linkerd.io/links list", "multicluster.linkerd.io/links watch",
				"multicluster.linkerd.io/links update", "multicluster.linkerd.io/links/status update",
				"/secrets get", "/secrets list", "/secrets watch", "/secrets update cluster-credentials-east",
				"/events create", "/events patch",
				"coordination.k8s.io/leases create",
				"coordination.k8s.io/leases get service-mirror-write-east", "coordination.k8s.io/leases update service-mirror-write-east",
			}
			slices.Sort(wantNS)
			if got := grants(t, find(t, objs, "Role")); !slices.Equal(got, wantNS) {
				t.Errorf("Role grants\n%q\nwant\n%q", got, wantNS)
			}
			args, _, _ := unstructured.NestedSlice(find(t, objs, "Deployment").Object, "spec", "template", "spec", "containers")
			hasFlag := slices.Contains(args[0].(map[string]any)["args"].([]any), any("--enable-namespace-creation"))
			if hasFlag != tc.enableNamespaceCreation {
				t.Errorf("--enable-namespace-creation in args: %v, want %v", hasFlag, tc.enableNamespaceCreation)
			}
		})
	}
}

func TestInstallOfTheExampleLinkIsTheFiles(t *testing.T) {
	objs, err := Install(InstallOptions{Link: ExampleLink})
	if err != nil {
		t.Fatal(err)
	}
	var files []*unstructured.Unstructured
	for _, f := range []string{"rbac-local.yaml", "deployment.yaml"} {
		o, err := Objects(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, o...)
	}
	a, _ := json.Marshal(objs)
	b, _ := json.Marshal(files)
	if string(a) != string(b) {
		t.Fatalf("Install(target) differs from the files:\n%s\n%s", a, b)
	}
}

func TestInstallRejectsBadNames(t *testing.T) {
	for _, o := range []InstallOptions{
		{Link: ""}, {Link: "East"}, {Link: "a_b"}, {Link: strings.Repeat("a", 50)}, {Link: "east", Namespace: "Bad NS"},
	} {
		if _, err := Install(o); err == nil {
			t.Errorf("Install(%+v) accepted", o)
		}
	}
}

func TestRemoteAccess(t *testing.T) {
	objs, err := RemoteAccess(RemoteAccessOptions{Namespace: "mc", ServiceAccount: "reader-for-west"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	want := []string{"ServiceAccount/reader-for-west", "ClusterRole/reader-for-west", "ClusterRoleBinding/reader-for-west",
		"Role/reader-for-west-token", "RoleBinding/reader-for-west-token"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("objects = %q, want %q (no long-lived Secret by default)", kinds, want)
	}
	if got, want := grants(t, find(t, objs, "ClusterRole")), []string{
		"/services list", "/services watch", "discovery.k8s.io/endpointslices list", "discovery.k8s.io/endpointslices watch",
	}; !slices.Equal(got, want) {
		t.Errorf("ClusterRole grants %q, want %q", got, want)
	}
	role := find(t, objs, "Role")
	if got := grants(t, role); !slices.Equal(got, []string{"/serviceaccounts/token create reader-for-west"}) {
		t.Errorf("Role grants %q, want only a token for its own ServiceAccount", got)
	}
	if role.GetNamespace() != "mc" {
		t.Errorf("Role in %q", role.GetNamespace())
	}

	objs, err = RemoteAccess(RemoteAccessOptions{LongLivedToken: true})
	if err != nil {
		t.Fatal(err)
	}
	secret := find(t, objs, "Secret")
	if secret.GetName() != "svcmirror-remote-reader-token" || secret.GetAnnotations()["kubernetes.io/service-account.name"] != RemoteServiceAccount {
		t.Errorf("long-lived token Secret %s %v", secret.GetName(), secret.GetAnnotations())
	}
}
