// Command k8s-validate strictly decodes Kubernetes manifests (a multi-document
// YAML stream, e.g. `helm template` output, on stdin) into the typed objects of
// k8s.io/api and the Prometheus Operator's API, rejecting unknown fields,
// unknown kinds and wrong types; then checks a few invariants the types alone
// cannot express (names, label selectors matching the pod template, container
// ports, volume references). Exit status 1 on the first problem, naming the
// document and the reason.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func newObject(t typeMeta) (interface{}, error) {
	switch t.APIVersion + "/" + t.Kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}, nil
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("unknown kind %s %s", t.APIVersion, t.Kind)
}

func checkMeta(m metav1.ObjectMeta) error {
	if errs := validation.IsDNS1123Subdomain(m.Name); len(errs) > 0 {
		return fmt.Errorf("metadata.name %q: %s", m.Name, strings.Join(errs, "; "))
	}
	for k, v := range m.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("label %q value %q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

func checkPodSpec(spec corev1.PodSpec) error {
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
	}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	if len(spec.Containers) == 0 {
		return fmt.Errorf("pod has no containers")
	}
	for _, c := range all {
		if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
			return fmt.Errorf("container %q: %s", c.Name, strings.Join(errs, "; "))
		}
		if c.Image == "" {
			return fmt.Errorf("container %q: no image", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				return fmt.Errorf("container %q mounts unknown volume %q", c.Name, m.Name)
			}
		}
		for _, p := range c.Ports {
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				return fmt.Errorf("container %q: port %d out of range", c.Name, p.ContainerPort)
			}
		}
	}
	return nil
}

func check(obj interface{}) error {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return checkMeta(o.ObjectMeta)
	case *corev1.ServiceAccount:
		return checkMeta(o.ObjectMeta)
	case *corev1.Service:
		return checkMeta(o.ObjectMeta)
	case *monitoringv1.ServiceMonitor:
		return checkMeta(o.ObjectMeta)
	case *rbacv1.Role:
		return checkMeta(o.ObjectMeta)
	case *rbacv1.RoleBinding:
		if o.RoleRef.Kind != "Role" || o.RoleRef.Name == "" || len(o.Subjects) == 0 {
			return fmt.Errorf("roleRef/subjects incomplete")
		}
		return checkMeta(o.ObjectMeta)
	case *rbacv1.ClusterRole:
		if o.Namespace != "" {
			return fmt.Errorf("a ClusterRole has no namespace")
		}
		return checkMeta(o.ObjectMeta)
	case *rbacv1.ClusterRoleBinding:
		if o.RoleRef.Kind != "ClusterRole" || o.RoleRef.Name == "" || len(o.Subjects) == 0 {
			return fmt.Errorf("roleRef/subjects incomplete")
		}
		if o.Namespace != "" {
			return fmt.Errorf("a ClusterRoleBinding has no namespace")
		}
		return checkMeta(o.ObjectMeta)
	case *appsv1.DaemonSet:
		if err := checkMeta(o.ObjectMeta); err != nil {
			return err
		}
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil {
			return fmt.Errorf("spec.selector: %v", err)
		}
		if sel.Empty() || !sel.Matches(labels.Set(o.Spec.Template.Labels)) {
			return fmt.Errorf("spec.selector does not match the pod template's labels")
		}
		return checkPodSpec(o.Spec.Template.Spec)
	}
	return nil
}

func main() {
	r := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	n := 0
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(n, "read: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		n++
		var t typeMeta
		if err := yaml.Unmarshal(doc, &t); err != nil {
			fail(n, "decode: %v", err)
		}
		obj, err := newObject(t)
		if err != nil {
			fail(n, "%v", err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			fail(n, "%s: %v", t.Kind, err)
		}
		if err := check(obj); err != nil {
			fail(n, "%s: %v", t.Kind, err)
		}
		fmt.Printf("ok %d %s %s\n", n, t.APIVersion, t.Kind)
	}
	if n == 0 {
		fail(0, "no documents")
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func fail(n int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "k8s-validate: document %d: %s\n", n, fmt.Sprintf(format, args...))
	os.Exit(1)
}
