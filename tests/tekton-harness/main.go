// Command tekton-harness runs Tekton's and Tekton Triggers' own Go code on the project's YAML, so that
// the test suite can check its local Tekton stand-ins (tests/e2e) against the real thing:
//
//	tekton-harness validate PATH...   admission: SetDefaults and Validate, as the webhooks do
//	tekton-harness resolve REQUEST    a Task's or a Pipeline's steps after Tekton's substitution
//	tekton-harness trigger REQUEST    a webhook through interceptors, bindings and the template
//
// PATH is a YAML/JSON file or a folder of them; REQUEST is a YAML/JSON file or "-" for stdin. The
// answer is JSON on stdout; a failure is a message on stderr and exit status 1 (2 for usage).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pipelineconfig "github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/reconciler/pipeline/dag"
	prresources "github.com/tektoncd/pipeline/pkg/reconciler/pipelinerun/resources"
	trresources "github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	"github.com/tektoncd/pipeline/pkg/workspace"
	triggersconfig "github.com/tektoncd/triggers/pkg/apis/config"
	"github.com/tektoncd/triggers/pkg/apis/triggers/contexts"
	triggersv1 "github.com/tektoncd/triggers/pkg/apis/triggers/v1beta1"
	"github.com/tektoncd/triggers/pkg/interceptors"
	"github.com/tektoncd/triggers/pkg/interceptors/cel"
	"github.com/tektoncd/triggers/pkg/interceptors/github"
	"github.com/tektoncd/triggers/pkg/template"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	kjson "knative.dev/pkg/webhook/json"
	"sigs.k8s.io/yaml"
)

const usage = "usage: tekton-harness validate PATH... | resolve REQUEST | trigger REQUEST"

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var out any
	var err error
	switch os.Args[1] {
	case "validate":
		out, err = validate(os.Args[2:])
	case "resolve":
		out, err = withRequest(os.Args[2:], resolve)
	case "trigger":
		out, err = withRequest(os.Args[2:], trigger)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if out != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(out); e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tekton-harness %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// object is one YAML document, as JSON.
type object struct {
	File       string
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
	} `json:"metadata"`
	Raw []byte `json:"-"`
}

func (o object) name() string {
	if o.Metadata.Name != "" {
		return o.Metadata.Name
	}
	return o.Metadata.GenerateName
}

// load reads every YAML/JSON document of the files (folders: every *.yaml, *.yml, *.json below).
func load(paths []string) ([]object, error) {
	var objects []object
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := filepath.Ext(path)
			if d.IsDir() || (path != root && (ext != ".yaml" && ext != ".yml" && ext != ".json" || strings.HasPrefix(d.Name(), "."))) {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			found, err := decode(path, f)
			objects = append(objects, found...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return objects, nil
}

func decode(file string, r io.Reader) ([]object, error) {
	var objects []object
	reader := k8syaml.NewYAMLReader(bufio.NewReader(r))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		o := object{File: file, Raw: raw}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		objects = append(objects, o)
	}
}

// crd is what the admission webhooks handle (knative's resourcesemantics.GenericCRD, in short).
type crd interface {
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
}

// kinds are those the Pipelines webhook (v1) and the Triggers webhook (v1beta1) admit.
var kinds = map[string]func() crd{
	"tekton.dev/v1/Task":                                func() crd { return &v1.Task{} },
	"tekton.dev/v1/Pipeline":                            func() crd { return &v1.Pipeline{} },
	"tekton.dev/v1/PipelineRun":                         func() crd { return &v1.PipelineRun{} },
	"tekton.dev/v1/TaskRun":                             func() crd { return &v1.TaskRun{} },
	"triggers.tekton.dev/v1beta1/EventListener":         func() crd { return &triggersv1.EventListener{} },
	"triggers.tekton.dev/v1beta1/Trigger":               func() crd { return &triggersv1.Trigger{} },
	"triggers.tekton.dev/v1beta1/TriggerBinding":        func() crd { return &triggersv1.TriggerBinding{} },
	"triggers.tekton.dev/v1beta1/ClusterTriggerBinding": func() crd { return &triggersv1.ClusterTriggerBinding{} },
	"triggers.tekton.dev/v1beta1/TriggerTemplate":       func() crd { return &triggersv1.TriggerTemplate{} },
}

// newCRD gives an empty object of an admitted kind.
func newCRD(apiVersion, kind string) (crd, bool) {
	if newObject, ok := kinds[apiVersion+"/"+kind]; ok {
		return newObject(), true
	}
	return nil, false
}

// admissionContext is the context both webhooks give SetDefaults and Validate on a create: their
// config store (here the upstream defaults: no config-defaults or feature-flags ConfigMap entries),
// the operation and the requesting user.
func admissionContext(apiVersion string) context.Context {
	ctx := context.Background()
	if strings.HasPrefix(apiVersion, "triggers.tekton.dev/") {
		ctx = contexts.WithUpgradeViaDefaulting(triggersconfig.ToContext(ctx, triggersconfig.FromContextOrDefaults(ctx)))
	} else {
		ctx = pipelineconfig.ToContext(ctx, pipelineconfig.FromContextOrDefaults(ctx))
	}
	ctx = apis.WithinCreate(ctx)
	return apis.WithUserInfo(ctx, &authenticationv1.UserInfo{Username: "system:serviceaccount:default:tekton-harness"})
}

// admit decodes an object as the webhooks do (unknown fields refused outside metadata), defaults
// it (mutating webhook) and validates it (validating webhook); warnings do not fail it.
func admit(o object, into crd) (warnings []string, err error) {
	if err := kjson.Decode(o.Raw, into, true); err != nil {
		return nil, fmt.Errorf("cannot decode incoming new object: %w", err)
	}
	ctx := admissionContext(o.APIVersion)
	into.SetDefaults(ctx)
	// Between the mutating and the validating webhooks the API server names an object that has
	// only a generateName: the prefix and five random characters (fixed ones here).
	if m, ok := into.(metav1.Object); ok && m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + "h4rn5")
	}
	if fe := into.Validate(ctx); fe != nil {
		if w := fe.Filter(apis.WarningLevel); w != nil {
			for _, e := range w.WrappedErrors() {
				warnings = append(warnings, e.Error())
			}
		}
		if e := fe.Filter(apis.ErrorLevel); e != nil {
			return warnings, fmt.Errorf("validation failed: %v", e)
		}
	}
	return warnings, nil
}

type validated struct {
	File     string   `json:"file"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Checked  bool     `json:"checked"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func validate(paths []string) (any, error) {
	objects, err := load(paths)
	if err != nil {
		return nil, err
	}
	pctx, tctx := context.Background(), context.Background()
	out := struct {
		PipelineConfig *pipelineconfig.Config `json:"pipelineConfig"`
		TriggersConfig *triggersconfig.Config `json:"triggersConfig"`
		Objects        []validated            `json:"objects"`
	}{pipelineconfig.FromContextOrDefaults(pctx), triggersconfig.FromContextOrDefaults(tctx), []validated{}}
	failed := 0
	for _, o := range objects {
		v := validated{File: o.File, Kind: o.APIVersion + "/" + o.Kind, Name: o.name()}
		if c, ok := newCRD(o.APIVersion, o.Kind); ok {
			v.Checked = true
			warnings, err := admit(o, c)
			v.Warnings = warnings
			if err != nil {
				v.Errors = []string{err.Error()}
				failed++
			}
		}
		out.Objects = append(out.Objects, v)
	}
	if failed > 0 {
		return out, fmt.Errorf("%d object(s) refused", failed)
	}
	return out, nil
}

// withRequest reads a request (YAML or JSON, file or "-") into the argument of do.
func withRequest[R any](args []string, do func(*R) (any, error)) (any, error) {
	if len(args) != 1 {
		return nil, errors.New(usage)
	}
	var data []byte
	var err error
	if args[0] == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(args[0])
	}
	if err != nil {
		return nil, err
	}
	req := new(R)
	if err := yaml.UnmarshalStrict(data, req); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	return do(req)
}

// named finds the one admitted object of a kind and name among objects.
func named[T crd](objects []object, apiVersion, kind, name string) (T, error) {
	var zero T
	for _, o := range objects {
		if o.APIVersion == apiVersion && o.Kind == kind && o.Metadata.Name == name {
			c, _ := newCRD(apiVersion, kind)
			if _, err := admit(o, c); err != nil {
				return zero, fmt.Errorf("%s %s: %w", kind, name, err)
			}
			return c.(T), nil
		}
	}
	return zero, fmt.Errorf("no %s %s", kind, name)
}

type resolveRequest struct {
	Files      []string                     `json:"files"`      // where the Tasks and Pipelines are
	Task       string                       `json:"task"`       // a Task run alone, or
	Pipeline   string                       `json:"pipeline"`   // a Pipeline, every task in order
	Params     map[string]v1.ParamValue     `json:"params"`     // of the TaskRun or PipelineRun
	Workspaces map[string]string            `json:"workspaces"` // bound ones: name -> folder ("": Tekton's mountPath)
	Results    map[string]map[string]string `json:"results"`    // pipeline task -> result -> value
}

type resolvedStep struct {
	Name       string          `json:"name"`
	Image      string          `json:"image"`
	Command    []string        `json:"command"`
	Args       []string        `json:"args"`
	Env        []corev1.EnvVar `json:"env"`
	WorkingDir string          `json:"workingDir,omitempty"`
	Script     string          `json:"script,omitempty"`
}

type resolvedTask struct {
	PipelineTask string         `json:"pipelineTask,omitempty"`
	Task         string         `json:"task"`
	Params       v1.Params      `json:"params"`
	Steps        []resolvedStep `json:"steps"`
}

func resolve(req *resolveRequest) (any, error) {
	objects, err := load(req.Files)
	if err != nil {
		return nil, err
	}
	var params v1.Params
	for name, value := range req.Params {
		params = append(params, v1.Param{Name: name, Value: value})
	}
	slices.SortFunc(params, func(a, b v1.Param) int { return strings.Compare(a.Name, b.Name) })
	var bindings []v1.WorkspaceBinding
	for name := range req.Workspaces {
		bindings = append(bindings, v1.WorkspaceBinding{Name: name, EmptyDir: &corev1.EmptyDirVolumeSource{}})
	}
	slices.SortFunc(bindings, func(a, b v1.WorkspaceBinding) int { return strings.Compare(a.Name, b.Name) })
	switch {
	case req.Task != "" && req.Pipeline == "":
		task, err := named[*v1.Task](objects, "tekton.dev/v1", "Task", req.Task)
		if err != nil {
			return nil, err
		}
		tr := &v1.TaskRun{
			ObjectMeta: metav1.ObjectMeta{Name: req.Task + "-run", Namespace: "default"},
			Spec:       v1.TaskRunSpec{TaskRef: &v1.TaskRef{Name: req.Task}, Params: params, Workspaces: bindings},
		}
		steps, err := runTask(task, tr, req.Workspaces)
		return []resolvedTask{{Task: req.Task, Params: params, Steps: steps}}, err
	case req.Pipeline != "" && req.Task == "":
		return runPipeline(objects, req, params, bindings)
	}
	return nil, errors.New("request: give either task or pipeline")
}

// runTask does what the TaskRun reconciler does to the Task's spec before it builds the pod
// (reconciler/taskrun: prepare, then applyParamsContextsResultsAndWorkspaces). A workspace path
// given in mountPaths becomes the declaration's mountPath, which is what $(workspaces.x.path) is.
func runTask(task *v1.Task, tr *v1.TaskRun, mountPaths map[string]string) ([]resolvedStep, error) {
	ctx := admissionContext("tekton.dev/v1")
	tr.SetDefaults(ctx)
	if fe := tr.Validate(ctx); fe != nil && fe.Filter(apis.ErrorLevel) != nil {
		return nil, fmt.Errorf("TaskRun %s: %v", tr.Name, fe.Filter(apis.ErrorLevel))
	}
	ts := task.Spec.DeepCopy()
	given := map[string]bool{}
	for _, p := range tr.Spec.Params {
		given[p.Name] = true
	}
	for _, p := range ts.Params {
		if p.Default == nil && !given[p.Name] {
			return nil, fmt.Errorf("invalid input params for task %s: missing values for these params which have no default values: [%s]", task.Name, p.Name)
		}
	}
	for i, w := range ts.Workspaces {
		if path := mountPaths[w.Name]; path != "" {
			ts.Workspaces[i].MountPath = path
		}
	}
	trresources.ApplyParametersToWorkspaceBindings(ts, tr)
	volumes := workspace.CreateVolumes(tr.Spec.Workspaces)
	ts = trresources.ApplyParameters(ts, tr, ts.Params...)
	ts = trresources.ApplyContexts(ts, task.Name, tr)
	ts = trresources.ApplyResults(ts)
	ts = trresources.ApplyArtifacts(ts)
	ts = trresources.ApplyStepExitCodePath(ts)
	for _, b := range tr.Spec.Workspaces {
		if !slices.ContainsFunc(ts.Workspaces, func(w v1.WorkspaceDeclaration) bool { return w.Name == b.Name }) {
			ts.Workspaces = append(ts.Workspaces, v1.WorkspaceDeclaration{Name: b.Name})
		}
	}
	ts = trresources.ApplyWorkspaces(ctx, ts, ts.Workspaces, tr.Spec.Workspaces, volumes)
	var steps []resolvedStep
	for _, s := range ts.Steps {
		steps = append(steps, resolvedStep{s.Name, s.Image, s.Command, s.Args, s.Env, s.WorkingDir, s.Script})
	}
	return steps, nil
}

// runPipeline does what the PipelineRun reconciler does: checks the run's params and workspaces,
// applies params, context and workspace variables to the spec, then takes the tasks in DAG order,
// each with the results of the tasks before it (as finished TaskRuns carrying req.Results), and
// creates its TaskRun (params, workspaces renamed to the task's) for runTask.
func runPipeline(objects []object, req *resolveRequest, params v1.Params, bindings []v1.WorkspaceBinding) (any, error) {
	pipeline, err := named[*v1.Pipeline](objects, "tekton.dev/v1", "Pipeline", req.Pipeline)
	if err != nil {
		return nil, err
	}
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: req.Pipeline + "-run", Namespace: "default"},
		Spec:       v1.PipelineRunSpec{PipelineRef: &v1.PipelineRef{Name: req.Pipeline}, Params: params, Workspaces: bindings},
	}
	ctx := admissionContext("tekton.dev/v1")
	pr.SetDefaults(ctx)
	if fe := pr.Validate(ctx); fe != nil && fe.Filter(apis.ErrorLevel) != nil {
		return nil, fmt.Errorf("PipelineRun: %v", fe.Filter(apis.ErrorLevel))
	}
	ps := &pipeline.Spec
	for _, check := range []func() error{
		func() error { return prresources.ValidateRequiredParametersProvided(&ps.Params, &pr.Spec.Params) },
		func() error { return prresources.ValidateParamTypesMatching(ps, pr) },
		func() error { return prresources.ValidateObjectParamRequiredKeys(ps.Params, pr.Spec.Params) },
		func() error { return prresources.ValidateWorkspaceBindings(ps, pr) },
	} {
		if err := check(); err != nil {
			return nil, fmt.Errorf("PipelineRun: %w", err)
		}
	}
	prresources.ApplyParametersToWorkspaceBindings(pr)
	if ps, err = prresources.ApplyParameters(ps, pr); err != nil {
		return nil, err
	}
	ps = prresources.ApplyContexts(ps, pipeline.Name, pr)
	ps = prresources.ApplyWorkspaces(ps, pr)
	if len(ps.Finally) > 0 {
		return nil, errors.New("finally tasks are not resolved")
	}
	graph, err := dag.Build(v1.PipelineTaskList(ps.Tasks), v1.PipelineTaskList(ps.Tasks).Deps())
	if err != nil {
		return nil, err
	}
	var state prresources.PipelineRunState
	var done []string
	var out []resolvedTask
	for len(done) < len(ps.Tasks) {
		candidates, err := dag.GetCandidateTasks(graph, done...)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(ps.Tasks, func(t v1.PipelineTask) bool { return candidates.Has(t.Name) })
		if i < 0 {
			return nil, errors.New("no task can run next")
		}
		pt := ps.Tasks[i].DeepCopy()
		rpt := &prresources.ResolvedPipelineTask{PipelineTask: pt}
		refs, _, err := prresources.ResolveResultRefs(state, prresources.PipelineRunState{rpt})
		if err != nil {
			return nil, fmt.Errorf("pipeline task %s: %w", pt.Name, err)
		}
		prresources.ApplyTaskResults(prresources.PipelineRunState{rpt}, refs)
		facts := &prresources.PipelineRunFacts{State: state}
		pt = prresources.ApplyPipelineTaskContexts(rpt.PipelineTask, pr.Status, facts)
		if pt.TaskRef == nil || pt.TaskRef.Name == "" {
			return nil, fmt.Errorf("pipeline task %s: only a taskRef by name is resolved", pt.Name)
		}
		task, err := named[*v1.Task](objects, "tekton.dev/v1", "Task", pt.TaskRef.Name)
		if err != nil {
			return nil, fmt.Errorf("pipeline task %s: %w", pt.Name, err)
		}
		tr := &v1.TaskRun{
			ObjectMeta: metav1.ObjectMeta{Name: pr.Name + "-" + pt.Name, Namespace: pr.Namespace},
			Spec:       v1.TaskRunSpec{TaskRef: pt.TaskRef, Params: pt.Params},
		}
		mountPaths := map[string]string{}
		for _, w := range pt.Workspaces {
			from := w.Workspace
			if from == "" {
				from = w.Name
			}
			if path, bound := req.Workspaces[from]; bound {
				tr.Spec.Workspaces = append(tr.Spec.Workspaces, v1.WorkspaceBinding{Name: w.Name, SubPath: w.SubPath, EmptyDir: &corev1.EmptyDirVolumeSource{}})
				// The task sees the subPath of the workspace's folder at its mountPath.
				if path != "" && w.SubPath != "" {
					path = filepath.Join(path, w.SubPath)
				}
				mountPaths[w.Name] = path
			}
		}
		steps, err := runTask(task, tr, mountPaths)
		if err != nil {
			return nil, fmt.Errorf("pipeline task %s: %w", pt.Name, err)
		}
		out = append(out, resolvedTask{PipelineTask: pt.Name, Task: task.Name, Params: tr.Spec.Params, Steps: steps})
		tr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue})
		for name, value := range req.Results[pt.Name] {
			tr.Status.Results = append(tr.Status.Results, v1.TaskRunResult{Name: name, Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues(value)})
		}
		state = append(state, &prresources.ResolvedPipelineTask{PipelineTask: pt, TaskRunNames: []string{tr.Name}, TaskRuns: []*v1.TaskRun{tr}})
		done = append(done, pt.Name)
	}
	return out, nil
}

type triggerRequest struct {
	Files         []string                     `json:"files"`         // the Triggers objects
	EventListener string                       `json:"eventListener"` // every trigger of it, or
	Trigger       string                       `json:"trigger"`       // one Trigger
	Namespace     string                       `json:"namespace"`
	Headers       map[string]json.RawMessage   `json:"headers"` // a string or a list of strings each
	Body          string                       `json:"body"`    // exactly as delivered (it is signed)
	Secrets       map[string]map[string]string `json:"secrets"` // Secret -> key -> value
	EventID       string                       `json:"eventID"`
}

type fired struct {
	Trigger    string             `json:"trigger"`
	Continue   bool               `json:"continue"`
	Reason     string             `json:"reason,omitempty"` // why an interceptor stopped it
	Extensions map[string]any     `json:"extensions,omitempty"`
	Params     []triggersv1.Param `json:"params,omitempty"`
	Resources  []json.RawMessage  `json:"resources,omitempty"`
}

// secrets is the interceptors' SecretGetter over the request's Secrets.
type secrets map[string]map[string]string

func (s secrets) Get(_ context.Context, ns string, ref *triggersv1.SecretRef) ([]byte, error) {
	if v, ok := s[ref.SecretName][ref.SecretKey]; ok {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("secrets %q not found in namespace %s (key %s)", ref.SecretName, ns, ref.SecretKey)
}

func trigger(req *triggerRequest) (any, error) {
	objects, err := load(req.Files)
	if err != nil {
		return nil, err
	}
	if req.Namespace == "" {
		req.Namespace = "default"
	}
	if req.EventID == "" {
		req.EventID = "tekton-harness-event"
	}
	header := http.Header{}
	for name, raw := range req.Headers {
		var one string
		var many []string
		if json.Unmarshal(raw, &one) == nil {
			many = []string{one}
		} else if err := json.Unmarshal(raw, &many); err != nil {
			return nil, fmt.Errorf("header %s: a string or a list of strings", name)
		}
		for _, v := range many {
			header.Add(name, v)
		}
	}
	get := func(name string) (*triggersv1.Trigger, error) {
		return named[*triggersv1.Trigger](objects, "triggers.tekton.dev/v1beta1", "Trigger", name)
	}
	// Which Triggers hear the event: the EventListener's (sink.merge), or the one named.
	var triggers []*triggersv1.Trigger
	switch {
	case req.EventListener != "" && req.Trigger == "":
		el, err := named[*triggersv1.EventListener](objects, "triggers.tekton.dev/v1beta1", "EventListener", req.EventListener)
		if err != nil {
			return nil, err
		}
		for _, t := range el.Spec.Triggers {
			switch {
			case t.Template == nil && t.TriggerRef != "":
				found, err := get(t.TriggerRef)
				if err != nil {
					return nil, err
				}
				triggers = append(triggers, found)
			case t.Template != nil:
				triggers = append(triggers, &triggersv1.Trigger{ObjectMeta: metav1.ObjectMeta{Name: t.Name},
					Spec: triggersv1.TriggerSpec{ServiceAccountName: t.ServiceAccountName, Bindings: t.Bindings, Template: *t.Template, Interceptors: t.Interceptors}})
			default:
				return nil, errors.New("EventListenerTrigger not defined")
			}
		}
	case req.Trigger != "" && req.EventListener == "":
		found, err := get(req.Trigger)
		if err != nil {
			return nil, err
		}
		triggers = append(triggers, found)
	default:
		return nil, errors.New("request: give either eventListener or trigger")
	}
	var out []fired
	for _, t := range triggers {
		t.Namespace = req.Namespace
		f, err := fire(t, req, header, objects)
		if err != nil {
			return nil, fmt.Errorf("Trigger %s: %w", t.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// fire runs one Trigger as the EventListener's sink does (sink.processTrigger and
// ExecuteInterceptors): each interceptor with its own params and the extensions so far, the request
// and the answer passed as JSON as they are over HTTP to the core interceptors; then the bindings
// and the template.
func fire(t *triggersv1.Trigger, req *triggerRequest, header http.Header, objects []object) (fired, error) {
	out := fired{Trigger: t.Name}
	ireq := triggersv1.InterceptorRequest{
		Body:       req.Body,
		Header:     header.Clone(),
		Extensions: map[string]any{},
		Context: &triggersv1.TriggerContext{
			EventURL:  "http://el-listener." + req.Namespace + ".svc.cluster.local:8080",
			EventID:   req.EventID,
			TriggerID: fmt.Sprintf("namespaces/%s/triggers/%s", t.Namespace, t.Name),
		},
	}
	core := map[string]triggersv1.InterceptorInterface{
		"github": github.NewInterceptor(secrets(req.Secrets)),
		"cel":    cel.NewInterceptor(secrets(req.Secrets)),
	}
	for _, i := range t.Spec.Interceptors {
		if i.Ref.Name == "" || i.Webhook != nil {
			return out, errors.New("only interceptors referenced by name are run")
		}
		impl, ok := core[i.Ref.Name]
		if !ok {
			return out, fmt.Errorf("interceptor %s is not run here (github and cel are)", i.Ref.Name)
		}
		ireq.InterceptorParams = interceptors.GetInterceptorParams(i)
		var wire triggersv1.InterceptorRequest
		if err := roundTrip(ireq, &wire); err != nil {
			return out, err
		}
		var resp triggersv1.InterceptorResponse
		if err := roundTrip(impl.Process(context.Background(), &wire), &resp); err != nil {
			return out, err
		}
		if !resp.Continue {
			out.Reason = fmt.Sprintf("interceptor %s: %s (%s)", interceptorName(i), resp.Status.Message, resp.Status.Code)
			return out, nil
		}
		for k, v := range resp.Extensions {
			ireq.Extensions[k] = v
		}
	}
	out.Continue, out.Extensions = true, ireq.Extensions
	rt, err := template.ResolveTrigger(*t,
		func(name string) (*triggersv1.TriggerBinding, error) {
			return named[*triggersv1.TriggerBinding](objects, "triggers.tekton.dev/v1beta1", "TriggerBinding", name)
		},
		func(name string) (*triggersv1.ClusterTriggerBinding, error) {
			return named[*triggersv1.ClusterTriggerBinding](objects, "triggers.tekton.dev/v1beta1", "ClusterTriggerBinding", name)
		},
		func(name string) (*triggersv1.TriggerTemplate, error) {
			return named[*triggersv1.TriggerTemplate](objects, "triggers.tekton.dev/v1beta1", "TriggerTemplate", name)
		})
	if err != nil {
		return out, err
	}
	params, err := template.ResolveParams(rt, []byte(ireq.Body), ireq.Header, ireq.Extensions, template.NewTriggerContext(req.EventID))
	if err != nil {
		return out, err
	}
	out.Params = params
	out.Resources = template.ResolveResources(rt.TriggerTemplate, params)
	return out, nil
}

func interceptorName(i *triggersv1.TriggerInterceptor) string {
	if i.Name != nil {
		return *i.Name
	}
	return i.Ref.Name
}

func roundTrip(from, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}
