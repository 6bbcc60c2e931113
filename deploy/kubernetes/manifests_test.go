package kubernetes_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The manifests are checked the way the API server would read them and
// against the binaries they run: each kustomization is rendered with the
// kustomize pinned in go.mod, every object is decoded strictly (unknown or
// duplicate fields, wrong case, wrong types fail) into its k8s.io/api type,
// and then what must agree is compared: probes, ports, flags, Secret keys,
// selectors, the autoscaler's target and the NATS cluster's routes.

// objects is one rendered kustomization, decoded.
type objects struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	cronJobs     map[string]*batchv1.CronJob
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	namespaces   map[string]*corev1.Namespace
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
}

// decoders maps apiVersion/kind to a function decoding one object strictly
// and filing it. A kind the manifests start using must be added here, with
// its checks below.
var decoders = map[string]func(o *objects, raw []byte) error{
	"apps/v1/Deployment":                     into(func(o *objects) map[string]*appsv1.Deployment { return o.deployments }),
	"apps/v1/StatefulSet":                    into(func(o *objects) map[string]*appsv1.StatefulSet { return o.statefulSets }),
	"batch/v1/CronJob":                       into(func(o *objects) map[string]*batchv1.CronJob { return o.cronJobs }),
	"v1/Service":                             into(func(o *objects) map[string]*corev1.Service { return o.services }),
	"v1/ConfigMap":                           into(func(o *objects) map[string]*corev1.ConfigMap { return o.configMaps }),
	"v1/Secret":                              into(func(o *objects) map[string]*corev1.Secret { return o.secrets }),
	"v1/Namespace":                           into(func(o *objects) map[string]*corev1.Namespace { return o.namespaces }),
	"policy/v1/PodDisruptionBudget":          into(func(o *objects) map[string]*policyv1.PodDisruptionBudget { return o.pdbs }),
	"autoscaling/v2/HorizontalPodAutoscaler": into(func(o *objects) map[string]*autoscalingv2.HorizontalPodAutoscaler { return o.hpas }),
}

// into returns a decoder filing objects of type T in the map m returns.
func into[T any, PT interface {
	*T
	GetName() string
}](m func(*objects) map[string]PT) func(*objects, []byte) error {
	return func(o *objects, raw []byte) error {
		v := PT(new(T))
		if err := decodeStrict(raw, v); err != nil {
			return err
		}
		if _, dup := m(o)[v.GetName()]; dup {
			return errors.New("defined twice")
		}
		m(o)[v.GetName()] = v
		return nil
	}
}

// decodeStrict decodes raw JSON into v as the API server's strict field
// validation does (sigs.k8s.io/json: case-sensitive, unknown and duplicate
// fields are errors), unlike encoding/json, which matches names in any case.
func decodeStrict(raw []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(raw, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// kustomizations returns every directory holding a kustomization.yaml,
// relative to this package's directory.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no kustomization.yaml found")
	}
	return dirs
}

// overlays returns the kustomizations that are applied to a cluster.
func overlays(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, d := range kustomizations(t) {
		if strings.HasPrefix(filepath.ToSlash(d), "overlays/") {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no overlay under overlays/")
	}
	return out
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]*objects{}
)

// render renders the kustomization in dir and decodes every object strictly.
func render(t *testing.T, dir string) *objects {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if o, ok := renderCache[dir]; ok {
		return o
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		cronJobs: map[string]*batchv1.CronJob{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		namespaces: map[string]*corev1.Namespace{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
	}
	var errs []error
	for _, r := range m.Resources() {
		raw, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		key := r.GetApiVersion() + "/" + r.GetKind()
		decode, ok := decoders[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %s: no k8s.io/api type registered for %s (add it to decoders)", r.GetKind(), r.GetName(), key))
			continue
		}
		if err := decode(o, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("kustomize build %s:\n%v", dir, err)
	}
	renderCache[dir] = o
	return o
}

// TestManifestsDecodeStrictly renders every kustomization, base included.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			if len(o.deployments) == 0 || len(o.statefulSets) == 0 || len(o.services) == 0 {
				t.Errorf("rendered no Deployment, StatefulSet or Service: %d, %d, %d", len(o.deployments), len(o.statefulSets), len(o.services))
			}
		})
	}
}

// TestStrictDecodingCatchesMisspelling makes sure the strict decoder is
// strict: a misspelt, a wrongly cased and a duplicated field each fail.
func TestStrictDecodingCatchesMisspelling(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt":   `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replcas":1}}`,
		"wrong case": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"Replicas":1}}`,
		"duplicate":  `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":1,"replicas":2}}`,
		"deep":       `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"template":{"spec":{"containers":[{"name":"c","readinessProbe":{"httpGet":{"pth":"/readyz","port":8080}}}]}}}}`,
	} {
		if err := decodeStrict([]byte(doc), new(appsv1.Deployment)); err == nil {
			t.Errorf("%s field: decoded without error", name)
		}
	}
}

// podTemplates returns every pod template of the workloads, by a name for messages.
func (o *objects) podTemplates() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for n, d := range o.deployments {
		out["Deployment "+n] = &d.Spec.Template
	}
	for n, s := range o.statefulSets {
		out["StatefulSet "+n] = &s.Spec.Template
	}
	for n, c := range o.cronJobs {
		out["CronJob "+n] = &c.Spec.JobTemplate.Spec.Template
	}
	return out
}

// selected returns the pod templates whose labels sel matches.
func (o *objects) selected(t *testing.T, sel *metav1.LabelSelector) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	if s.Empty() {
		t.Fatalf("selector %v selects everything", sel)
	}
	var names []string
	for n, pt := range o.podTemplates() {
		if s.Matches(labels.Set(pt.Labels)) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func TestWorkloads(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			claims := map[string]bool{}
			for _, s := range o.statefulSets {
				for _, c := range s.Spec.VolumeClaimTemplates {
					claims[c.Name] = true
				}
			}
			for where, pt := range o.podTemplates() {
				checkPod(t, where, &pt.Spec, claims)
			}
			for n, d := range o.deployments {
				if got := o.selected(t, d.Spec.Selector); !slices.Equal(got, []string{"Deployment " + n}) {
					t.Errorf("Deployment %s: its selector matches %v", n, got)
				}
			}
			for n, s := range o.statefulSets {
				if got := o.selected(t, s.Spec.Selector); !slices.Equal(got, []string{"StatefulSet " + n}) {
					t.Errorf("StatefulSet %s: its selector matches %v", n, got)
				}
			}
		})
	}
}

// checkPod checks what every pod needs: pinned images, requests and limits,
// a locked-down security context, and mounts of volumes it has (or the
// volume claim templates claims).
func checkPod(t *testing.T, where string, pod *corev1.PodSpec, claims map[string]bool) {
	t.Helper()
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false (no container talks to the API server)", where)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: no RuntimeDefault seccomp profile", where)
	}
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		at := fmt.Sprintf("%s container %s", where, c.Name)
		if _, tag, ok := strings.Cut(path.Base(c.Image), ":"); !ok || tag == "" || tag == "latest" {
			t.Errorf("%s: image %q is not pinned to a version tag", at, c.Image)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okr := c.Resources.Requests[r]
			lim, okl := c.Resources.Limits[r]
			switch {
			case !okr || !okl:
				t.Errorf("%s: %s request and limit must both be set", at, r)
			case req.Cmp(lim) > 0:
				t.Errorf("%s: %s request %s exceeds its limit %s", at, r, req.String(), lim.String())
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", at)
			continue
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			t.Errorf("%s: not runAsNonRoot", at)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem not read-only", at)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation not false", at)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities do not drop ALL (or add some)", at)
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok && !claims[m.Name] {
				t.Errorf("%s: mounts volume %q, which the pod does not have", at, m.Name)
			}
		}
	}
}

func TestSearchd(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			d := o.deployments["searchd"]
			if d == nil {
				t.Fatal("no Deployment searchd")
			}
			c := container(t, &d.Spec.Template.Spec, "searchd")
			flags := searchdFlags(t)
			args := parseArgs(t, "searchd", c.Command, c.Args, "searchd")
			for name := range args {
				if _, ok := flags[name]; !ok {
					t.Errorf("searchd has no flag -%s (searchd -h)", name)
				}
			}
			flag := func(name string) string {
				if v, ok := args[name]; ok {
					return v
				}
				return flags[name]
			}

			// Probes: readiness /readyz, liveness /healthz, on the REST listener.
			httpPort := portOf(t, c, "http", flag("http-addr"))
			grpcPort := portOf(t, c, "grpc", flag("grpc-addr"))
			if httpPort != 8080 || grpcPort != 9090 {
				t.Errorf("searchd listens on %d (REST) and %d (gRPC), want 8080 and 9090", httpPort, grpcPort)
			}
			checkProbe(t, "readiness", c, c.ReadinessProbe, "/readyz", httpPort)
			checkProbe(t, "liveness", c, c.LivenessProbe, "/healthz", httpPort)

			// Graceful termination: preStop sleep, then -shutdown-timeout, within the grace period.
			shutdown, err := time.ParseDuration(flag("shutdown-timeout"))
			if err != nil {
				t.Fatalf("-shutdown-timeout: %v", err)
			}
			var sleep time.Duration
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
				t.Error("no preStop sleep: endpoints would still route to a replica that has closed its listeners")
			} else {
				sleep = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			grace := 30 * time.Second
			if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			if grace <= sleep+shutdown {
				t.Errorf("terminationGracePeriodSeconds %s does not exceed the preStop sleep %s plus -shutdown-timeout %s", grace, sleep, shutdown)
			}

			// The admin token from the Secret, the node id from the pod's name,
			// NATS from its Service.
			checkSecretEnv(t, o, c, "STACKSEARCH_ADMIN_TOKEN", "admin-token")
			if node := flag("node-id"); node != "$(POD_NAME)" {
				t.Errorf("-node-id=%q, want $(POD_NAME)", node)
			}
			if e := env(c, "POD_NAME"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Error("POD_NAME does not come from the downward API's metadata.name")
			}
			checkNATSURL(t, o, c)

			// Memory: the Go heap bounded below the limit, the rest left to the
			// mapped index files.
			lim := c.Resources.Limits[corev1.ResourceMemory]
			if e := env(c, "GOMEMLIMIT"); e == nil {
				t.Error("no GOMEMLIMIT: the Go heap would grow to the container's memory limit")
			} else if q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B")); err != nil || q.Cmp(lim) >= 0 {
				t.Errorf("GOMEMLIMIT=%s is not a size below the memory limit %s", e.Value, lim.String())
			}

			// The data directory is a volume (the root filesystem is read-only).
			if mountFor(&d.Spec.Template.Spec, c, flag("data-dir")) == nil {
				t.Errorf("-data-dir=%s is not on a volume", flag("data-dir"))
			}
			if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
				t.Error("no topologySpreadConstraints: replicas may share one node")
			}
			if d.Spec.Replicas != nil {
				t.Error("spec.replicas is set: each kubectl apply would reset the autoscaler's count")
			}
		})
	}
}

func TestServices(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			for n, s := range o.services {
				pods := o.selected(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
				if len(pods) != 1 {
					t.Errorf("Service %s selects %v, want one workload", n, pods)
					continue
				}
				spec := &o.podTemplates()[pods[0]].Spec
				for _, p := range s.Spec.Ports {
					if targetPort(t, spec, p.TargetPort) == 0 {
						t.Errorf("Service %s port %s: target %s is no container port of %s", n, p.Name, p.TargetPort.String(), pods[0])
					}
				}
			}
			rest, grpc := o.services["searchd"], o.services["searchd-grpc"]
			if rest == nil || grpc == nil {
				t.Fatal("want Services searchd (REST) and searchd-grpc")
			}
			d := &o.deployments["searchd"].Spec.Template.Spec
			if rest.Spec.Type != corev1.ServiceTypeClusterIP || len(rest.Spec.Ports) != 1 ||
				rest.Spec.Ports[0].Port != 80 || targetPort(t, d, rest.Spec.Ports[0].TargetPort) != 8080 {
				t.Errorf("Service searchd: want ClusterIP port 80 to 8080, have %s %+v", rest.Spec.Type, rest.Spec.Ports)
			}
			if grpc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("Service searchd-grpc is not headless (clusterIP %q): clients could not balance per call", grpc.Spec.ClusterIP)
			}
			if grpc.Spec.PublishNotReadyAddresses {
				t.Error("Service searchd-grpc publishes replicas that are not ready")
			}
			if len(grpc.Spec.Ports) != 1 || grpc.Spec.Ports[0].Port != 9090 || targetPort(t, d, grpc.Spec.Ports[0].TargetPort) != 9090 {
				t.Errorf("Service searchd-grpc: want port 9090 to 9090, have %+v", grpc.Spec.Ports)
			}
		})
	}
}

func TestAutoscalingAndDisruption(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			hpa := o.hpas["searchd"]
			if hpa == nil {
				t.Fatal("no HorizontalPodAutoscaler searchd")
			}
			ref := hpa.Spec.ScaleTargetRef
			if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || o.deployments[ref.Name] == nil || ref.Name != "searchd" {
				t.Errorf("the autoscaler targets %s %s %s, not the searchd Deployment", ref.APIVersion, ref.Kind, ref.Name)
			}
			if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
				t.Errorf("autoscaler replicas %v..%d: want at least 2", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
			}
			cpu := false
			for _, m := range hpa.Spec.Metrics {
				cpu = cpu || m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
					m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
			}
			if !cpu {
				t.Error("the autoscaler has no CPU utilisation target")
			}

			covered := map[string]bool{}
			for n, pdb := range o.pdbs {
				pods := o.selected(t, pdb.Spec.Selector)
				if len(pods) != 1 {
					t.Errorf("PodDisruptionBudget %s selects %v, want one workload", n, pods)
				}
				for _, p := range pods {
					covered[p] = true
				}
			}
			for _, w := range []string{"Deployment searchd", "StatefulSet nats"} {
				if !covered[w] {
					t.Errorf("no PodDisruptionBudget selects %s", w)
				}
			}
			if pdb := o.pdbs["nats"]; pdb != nil && (pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 2) {
				t.Error("PodDisruptionBudget nats: want minAvailable 2, the JetStream quorum of three")
			}
			if pdb := o.pdbs["searchd"]; pdb != nil && pdb.Spec.MaxUnavailable != nil &&
				pdb.Spec.MaxUnavailable.Type == intstr.Int && pdb.Spec.MaxUnavailable.IntValue() >= int(*hpa.Spec.MinReplicas) {
				t.Error("PodDisruptionBudget searchd allows every replica to go at once")
			}
		})
	}
}

func TestReindexCronJob(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			cj := o.cronJobs["searchd-reindex"]
			if cj == nil {
				t.Fatal("no CronJob searchd-reindex")
			}
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Error("reindexes may overlap: want concurrencyPolicy Forbid")
			}
			pod := &cj.Spec.JobTemplate.Spec.Template.Spec
			c := container(t, pod, "searchctl")
			if !strings.HasSuffix(cmdLine(c)[0], "/searchctl") {
				t.Fatalf("the CronJob runs %q, not searchctl", cmdLine(c))
			}
			line := cmdLine(c)[1:]
			sub := slices.IndexFunc(line, func(a string) bool { return !strings.HasPrefix(a, "-") })
			if sub < 0 || line[sub] != "reindex" {
				t.Fatalf("the CronJob runs searchctl %q, not searchctl reindex", line)
			}
			if d := o.deployments["searchd"]; d != nil && container(t, &d.Spec.Template.Spec, "searchd").Image != c.Image {
				t.Errorf("the CronJob runs image %s, not searchd's", c.Image)
			}
			checkSecretEnv(t, o, c, "STACKSEARCH_ADMIN_TOKEN", "admin-token")
			if slices.ContainsFunc(line, func(a string) bool { return strings.HasPrefix(a, "-token") }) {
				t.Error("the token is on searchctl's command line, visible in the pod spec: use the Secret's env")
			}
			global := parseArgs(t, "searchctl", nil, line[:sub], "")
			addr := global["addr"]
			if addr == "" {
				t.Fatal("searchctl has no -addr: it would call localhost")
			}
			host, port := splitTarget(t, addr)
			svc := o.services[strings.Split(host, ".")[0]]
			if svc == nil || svc.Name != "searchd-grpc" || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
				t.Errorf("searchctl -addr=%s is not the searchd-grpc Service's port", addr)
			}

			// searchctl accepts this command line: with -h appended, it parses
			// every flag and stops at the help request.
			bin := binaries(t)
			out, _ := exec.Command(filepath.Join(bin, "searchctl"), append(slices.Clone(line), "-h")...).CombinedOutput()
			if !strings.Contains(string(out), "help requested") || strings.Contains(string(out), "not defined") || strings.Contains(string(out), "invalid") {
				t.Errorf("searchctl %s -h:\n%s", strings.Join(line, " "), out)
			}
		})
	}
}

func TestNATS(t *testing.T) {
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			ss := o.statefulSets["nats"]
			if ss == nil {
				t.Fatal("no StatefulSet nats")
			}
			replicas := int32(1)
			if ss.Spec.Replicas != nil {
				replicas = *ss.Spec.Replicas
			}
			if replicas != 3 {
				t.Errorf("NATS has %d replicas, want 3", replicas)
			}
			headless := o.services[ss.Spec.ServiceName]
			if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
				t.Fatalf("serviceName %q is not a headless Service publishing not-ready pods (the servers must find each other to become ready)", ss.Spec.ServiceName)
			}
			pod := &ss.Spec.Template.Spec
			c := container(t, pod, "nats")
			checkNATSImage(t, c.Image)

			// The configuration: nats-server's own parser reads it.
			cfg, cfgPath := natsConfig(t, o, pod, c)
			t.Setenv("SERVER_NAME", ss.Name+"-0")
			opts, err := server.ProcessConfigFile(cfg)
			if err != nil {
				t.Fatalf("nats-server cannot read %s: %v", cfgPath, err)
			}
			if !opts.JetStream {
				t.Error("JetStream is not enabled")
			}
			if opts.ServerName != ss.Name+"-0" {
				t.Errorf("server_name is %q, want the pod's name", opts.ServerName)
			}
			for name, port := range map[string]int{"client": opts.Port, "cluster": opts.Cluster.Port, "monitor": opts.HTTPPort} {
				if cp := containerPort(c, name); cp == 0 || int(cp) != port {
					t.Errorf("the %s port is %d in nats.conf and %d in the container", name, port, cp)
				}
			}
			var routes []string
			for _, r := range opts.Routes {
				routes = append(routes, r.Host)
			}
			slices.Sort(routes)
			var want []string
			for i := range replicas {
				want = append(want, fmt.Sprintf("%s-%d.%s:%d", ss.Name, i, ss.Spec.ServiceName, opts.Cluster.Port))
			}
			if !slices.Equal(routes, want) {
				t.Errorf("routes %v, want %v (every server, by the headless Service's names)", routes, want)
			}

			// JetStream's files on the claim, within its size.
			m := mountFor(pod, c, opts.StoreDir)
			i := slices.IndexFunc(ss.Spec.VolumeClaimTemplates, func(v corev1.PersistentVolumeClaim) bool { return m != nil && v.Name == m.Name })
			if i < 0 {
				t.Fatalf("JetStream store_dir %s is not on a volumeClaimTemplate", opts.StoreDir)
			}
			size := ss.Spec.VolumeClaimTemplates[i].Spec.Resources.Requests[corev1.ResourceStorage]
			if opts.JetStreamMaxStore <= 0 || opts.JetStreamMaxStore >= size.Value() {
				t.Errorf("max_file_store %d is not below the claim's %s", opts.JetStreamMaxStore, size.String())
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz?js-enabled-only=true" ||
				resolvePort(c, p.HTTPGet.Port) != int32(opts.HTTPPort) {
				t.Error("the readiness probe is not the monitor port's /healthz?js-enabled-only=true")
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
				!slices.Contains(c.Lifecycle.PreStop.Exec.Command, "ldm="+opts.PidFile) {
				t.Errorf("preStop does not put the server in lame-duck mode through its pid file %s", opts.PidFile)
			}
			if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= opts.LameDuckDuration {
				t.Errorf("terminationGracePeriodSeconds does not exceed lame_duck_duration %s", opts.LameDuckDuration)
			}
		})
	}
}

// TestSearchdStartsAsDeployed runs searchd with the Deployment's command line,
// environment and mounted files (paths under a temporary directory, loopback
// ports the kernel picks, no NATS), and checks that its probes answer and
// that SIGTERM stops it within -shutdown-timeout.
func TestSearchdStartsAsDeployed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts searchd")
	}
	for _, dir := range overlays(t) {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			o := render(t, dir)
			pod := &o.deployments["searchd"].Spec.Template.Spec
			c := container(t, pod, "searchd")
			root := t.TempDir()
			for _, m := range c.VolumeMounts {
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(m.MountPath)), 0o755); err != nil {
					t.Fatal(err)
				}
				v := volume(pod, m.Name)
				switch {
				case v.EmptyDir != nil:
					os.MkdirAll(filepath.Join(root, m.MountPath), 0o755)
				case v.Secret != nil && m.SubPath != "":
					sec := secret(t, o, v.Secret.SecretName)
					key := m.SubPath
					for _, it := range v.Secret.Items {
						if it.Path == m.SubPath {
							key = it.Key
						}
					}
					data, ok := sec.Data[key]
					if !ok {
						t.Fatalf("Secret %s has no key %s for %s", sec.Name, key, m.MountPath)
					}
					if err := os.WriteFile(filepath.Join(root, m.MountPath), data, 0o440); err != nil {
						t.Fatal(err)
					}
				default:
					t.Fatalf("volume %s: teach this test to lay it out", m.Name)
				}
			}
			envs := map[string]string{}
			var environ []string
			for _, e := range c.Env {
				var v string
				switch {
				case e.Name == "STACKSEARCH_NATS_URL":
					continue // no NATS here: searchd runs as a single node
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
					v = "searchd-7d9f-abcde"
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					v = string(secret(t, o, e.ValueFrom.SecretKeyRef.Name).Data[e.ValueFrom.SecretKeyRef.Key])
				default:
					v = e.Value
				}
				envs[e.Name] = v
				environ = append(environ, e.Name+"="+v)
			}
			expand := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
			var args []string
			for _, a := range c.Args {
				a = expand.ReplaceAllStringFunc(a, func(m string) string { return envs[m[2:len(m)-1]] })
				name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				switch {
				case name == "http-addr" || name == "grpc-addr":
					value = "127.0.0.1:0"
				case strings.HasPrefix(value, "/"):
					value = filepath.Join(root, value)
				}
				args = append(args, "-"+name+"="+value)
			}
			cmd := exec.Command(filepath.Join(binaries(t), "searchd"), args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "TMPDIR=" + filepath.Join(root, "tmp")}, environ...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			addr := make(chan string, 1)
			exited := make(chan error, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					logs.WriteString(sc.Text() + "\n")
					var rec struct {
						HTTPAddr string `json:"http_addr"`
					}
					if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.HTTPAddr != "" {
						select {
						case addr <- rec.HTTPAddr:
						default:
						}
					}
				}
				exited <- cmd.Wait()
			}()
			t.Cleanup(func() { cmd.Process.Kill() })
			var base string
			select {
			case a := <-addr:
				base = "http://" + a
			case err := <-exited:
				t.Fatalf("searchd exited at start: %v\n%s", err, logs.String())
			case <-time.After(2 * time.Minute):
				t.Fatal("searchd did not log its address")
			}
			get := func(p string) int {
				resp, err := http.Get(base + p)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			deadline := time.Now().Add(2 * time.Minute)
			for get(c.ReadinessProbe.HTTPGet.Path) != http.StatusOK {
				if time.Now().After(deadline) {
					t.Fatal("the readiness probe never answered 200")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if code := get(c.LivenessProbe.HTTPGet.Path); code != http.StatusOK {
				t.Errorf("the liveness probe answered %d", code)
			}
			if ann := o.deployments["searchd"].Spec.Template.Annotations["prometheus.io/path"]; ann != "" {
				if code := get(ann); code != http.StatusOK {
					t.Errorf("the metrics path %s answered %d", ann, code)
				}
			}

			shutdown, _ := time.ParseDuration(searchdFlags(t)["shutdown-timeout"])
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "-shutdown-timeout="); ok {
					shutdown, _ = time.ParseDuration(v)
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("searchd exited with %v after SIGTERM\n%s", err, logs.String())
				}
			case <-time.After(shutdown + 5*time.Second):
				t.Errorf("searchd still running %s after SIGTERM", shutdown+5*time.Second)
			}
		})
	}
}

// container returns the pod's container named name.
func container(t *testing.T, pod *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func volume(pod *corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return &corev1.Volume{Name: name}
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func cmdLine(c *corev1.Container) []string {
	line := slices.Concat(c.Command, c.Args)
	if len(line) == 0 {
		return []string{""}
	}
	return line
}

// parseArgs checks that the container runs binary and returns its flags,
// which must be written -name=value (or -name for a boolean) so that no
// value is mistaken for an argument.
func parseArgs(t *testing.T, binary string, command, args []string, wantBinary string) map[string]string {
	t.Helper()
	if wantBinary != "" && (len(command) != 1 || path.Base(command[0]) != wantBinary) {
		t.Fatalf("the container's command is %q, want the %s binary (its arguments are checked as %s's flags)", command, binary, binary)
	}
	out := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s argument %q is not a flag", binary, a)
			continue
		}
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			value = "true"
		}
		if _, dup := out[name]; dup {
			t.Errorf("%s flag -%s given twice", binary, name)
		}
		out[name] = value
	}
	return out
}

// portOf returns the port of the address listen (":8080") and checks that
// the container declares it as the port named name.
func portOf(t *testing.T, c *corev1.Container, name, listen string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("listen address %q: %v", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listen address %q: %v", listen, err)
	}
	if cp := containerPort(c, name); int(cp) != port {
		t.Errorf("searchd listens on %d but the container port %q is %d", port, name, cp)
	}
	return int32(port)
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func resolvePort(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.String {
		return containerPort(c, p.StrVal)
	}
	return p.IntVal
}

// targetPort resolves a Service's targetPort against the pod's containers.
func targetPort(t *testing.T, pod *corev1.PodSpec, p intstr.IntOrString) int32 {
	t.Helper()
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if v := resolvePort(c, p); v != 0 && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == v }) {
			return v
		}
	}
	return 0
}

func checkProbe(t *testing.T, kind string, c *corev1.Container, p *corev1.Probe, wantPath string, port int32) {
	t.Helper()
	switch {
	case p == nil || p.HTTPGet == nil:
		t.Errorf("no HTTP %s probe", kind)
	case p.HTTPGet.Path != wantPath:
		t.Errorf("the %s probe asks %s, want %s", kind, p.HTTPGet.Path, wantPath)
	case resolvePort(c, p.HTTPGet.Port) != port:
		t.Errorf("the %s probe asks port %s, not searchd's REST port %d", kind, p.HTTPGet.Port.String(), port)
	}
}

func secret(t *testing.T, o *objects, name string) *corev1.Secret {
	t.Helper()
	s := o.secrets[name]
	if s == nil {
		t.Fatalf("no Secret %s in the rendered overlay", name)
	}
	return s
}

// checkSecretEnv checks that the variable name comes from the key of a
// Secret the overlay renders.
func checkSecretEnv(t *testing.T, o *objects, c *corev1.Container, name, key string) {
	t.Helper()
	e := env(c, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("container %s: %s does not come from a Secret", c.Name, name)
		return
	}
	ref := e.ValueFrom.SecretKeyRef
	if ref.Key != key {
		t.Errorf("container %s: %s from key %q, want %q", c.Name, name, ref.Key, key)
	}
	if v, ok := secret(t, o, ref.Name).Data[ref.Key]; !ok || len(v) == 0 || strings.ContainsAny(string(v), "\r\n") {
		t.Errorf("Secret %s: key %s is missing, empty or holds a line break", ref.Name, ref.Key)
	}
}

// checkNATSURL checks that STACKSEARCH_NATS_URL names the NATS client
// Service and its client port.
func checkNATSURL(t *testing.T, o *objects, c *corev1.Container) {
	t.Helper()
	e := env(c, "STACKSEARCH_NATS_URL")
	if e == nil {
		t.Error("no STACKSEARCH_NATS_URL: replicas would not be kept in step")
		return
	}
	u, err := url.Parse(e.Value)
	if err != nil || u.Scheme != "nats" {
		t.Errorf("STACKSEARCH_NATS_URL=%q is not a nats:// URL", e.Value)
		return
	}
	svc := o.services[strings.Split(u.Hostname(), ".")[0]]
	if svc == nil {
		t.Errorf("STACKSEARCH_NATS_URL=%s: no Service %s", e.Value, u.Hostname())
		return
	}
	ss := o.statefulSets["nats"]
	if ss == nil || !slices.Contains(o.selected(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}), "StatefulSet nats") {
		t.Errorf("Service %s does not select the NATS servers", svc.Name)
		return
	}
	nats := container(t, &ss.Spec.Template.Spec, "nats")
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == u.Port() {
			if resolvePort(nats, p.TargetPort) != containerPort(nats, "client") {
				t.Errorf("STACKSEARCH_NATS_URL=%s reaches port %s, not NATS's client port", e.Value, p.TargetPort.String())
			}
			return
		}
	}
	t.Errorf("STACKSEARCH_NATS_URL=%s: Service %s has no port %s", e.Value, svc.Name, u.Port())
}

// mountFor returns the container's volume mount holding path p.
func mountFor(pod *corev1.PodSpec, c *corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if m.SubPath != "" || m.ReadOnly {
			continue
		}
		if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
			if best == nil || len(m.MountPath) > len(best.MountPath) {
				best = m
			}
		}
	}
	return best
}

// natsConfig writes the configuration file the NATS container reads (from
// its --config argument and the ConfigMap mounted there) to a temporary file.
func natsConfig(t *testing.T, o *objects, pod *corev1.PodSpec, c *corev1.Container) (file, inPod string) {
	t.Helper()
	line := cmdLine(c)
	i := slices.Index(line, "--config")
	if i < 0 || i+1 >= len(line) {
		t.Fatalf("nats is not started with --config: %q", line)
	}
	inPod = line[i+1]
	m := mountFor(pod, c, inPod)
	if m == nil {
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].ReadOnly && strings.HasPrefix(inPod, c.VolumeMounts[i].MountPath+"/") {
				m = &c.VolumeMounts[i]
			}
		}
	}
	if m == nil {
		t.Fatalf("no volume holds %s", inPod)
	}
	v := volume(pod, m.Name)
	if v.ConfigMap == nil {
		t.Fatalf("%s is not from a ConfigMap", inPod)
	}
	cm := o.configMaps[v.ConfigMap.Name]
	if cm == nil {
		t.Fatalf("no ConfigMap %s", v.ConfigMap.Name)
	}
	key := strings.TrimPrefix(inPod, strings.TrimSuffix(m.MountPath, "/")+"/")
	data, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Name, key)
	}
	file = filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, inPod
}

// checkNATSImage checks that the image runs the nats-server version whose
// configuration parser this test (and go.mod) uses.
func checkNATSImage(t *testing.T, image string) {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, m := range bi.Deps {
		if m.Path == "github.com/nats-io/nats-server/v2" {
			_, tag, _ := strings.Cut(path.Base(image), ":")
			if v := strings.TrimPrefix(m.Version, "v"); tag != v && !strings.HasPrefix(tag, v+"-") {
				t.Errorf("NATS image %s is not nats-server %s, the version in go.mod", image, m.Version)
			}
		}
	}
}

// splitTarget splits a gRPC target (dns:///host:port or host:port).
func splitTarget(t *testing.T, target string) (string, int) {
	t.Helper()
	target = strings.TrimPrefix(target, "dns:///")
	h, p, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatalf("gRPC target %q: %v", target, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("gRPC target %q: %v", target, err)
	}
	return h, port
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds searchd and searchctl once for the package's tests and
// returns their directory.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "stacksearch-deploy-test-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "github.com/stacksearch/stacksearch/cmd/searchd", "github.com/stacksearch/stacksearch/cmd/searchctl")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

var (
	flagsOnce sync.Once
	flagSet   map[string]string
)

// searchdFlags returns searchd's flags with their defaults, from searchd -h.
func searchdFlags(t *testing.T) map[string]string {
	t.Helper()
	bin := binaries(t)
	flagsOnce.Do(func() {
		out, _ := exec.Command(filepath.Join(bin, "searchd"), "-h").CombinedOutput()
		flagSet = map[string]string{}
		def := regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)
		var name string
		for _, l := range strings.Split(string(out), "\n") {
			if f, ok := strings.CutPrefix(l, "  -"); ok {
				name = strings.Fields(f)[0]
				flagSet[name] = ""
			}
			if m := def.FindStringSubmatch(l); m != nil && name != "" {
				flagSet[name] = m[1]
			}
		}
	})
	if len(flagSet) < 10 {
		t.Fatalf("searchd -h listed %d flags", len(flagSet))
	}
	return flagSet
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
