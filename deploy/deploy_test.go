package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/transfer"
)

// The tests run in deploy/; paths are relative to it.
const (
	composeFile    = "docker-compose.yml"
	envExample     = ".env.example"
	agentConfig    = "config/agent.yaml"
	transferConfig = "config/transfer.yaml"
	savedObjects   = "kibana/saved_objects.ndjson"
	importScript   = "kibana/import.sh"
	esSetupScript  = "elasticsearch/setup.sh"
)

// compose is the part of the Compose file format the checks read. Fields
// with a short and a long syntax are yaml.Nodes.
type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string              `yaml:"image"`
	Build       yaml.Node           `yaml:"build"`
	Restart     string              `yaml:"restart"`
	DependsOn   yaml.Node           `yaml:"depends_on"`
	Volumes     []string            `yaml:"volumes"`
	EnvFile     yaml.Node           `yaml:"env_file"`
	Environment yaml.Node           `yaml:"environment"`
	Command     yaml.Node           `yaml:"command"`
	Healthcheck *struct{ Test any } `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return c
}

// strs reads a node that is a string or a list of strings.
func strs(n yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return nil
}

// mapping reads a node that is a mapping into a map of its keys to values.
func mapping(n yaml.Node) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// env reads environment: in its map or its list (NAME=value) syntax.
func (s service) env() map[string]string {
	out := map[string]string{}
	if m := mapping(s.Environment); m != nil {
		for k, v := range m {
			out[k] = v.Value
		}
		return out
	}
	for _, kv := range strs(s.Environment) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func exists(t *testing.T, what, path string, dir bool) {
	t.Helper()
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case dir && !fi.IsDir():
		t.Errorf("%s: %s is not a directory", what, path)
	case !dir && fi.IsDir():
		t.Errorf("%s: %s is a directory", what, path)
	}
}

func TestComposeReferences(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" && s.Build.Kind == 0 {
			t.Errorf("service %s: neither image nor build", name)
		}
		if s.Build.Kind != 0 {
			ctx, dockerfile := "", "Dockerfile"
			if s.Build.Kind == yaml.ScalarNode {
				ctx = s.Build.Value
			} else {
				b := mapping(s.Build)
				if b["context"] != nil {
					ctx = b["context"].Value
				}
				if b["dockerfile"] != nil {
					dockerfile = b["dockerfile"].Value
				}
			}
			exists(t, "service "+name+": build context", ctx, true)
			exists(t, "service "+name+": dockerfile", filepath.Join(ctx, dockerfile), false)
		}
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok {
				continue // an anonymous volume
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				fi, err := os.Stat(src)
				if err != nil {
					t.Errorf("service %s: volume %s: %v", name, v, err)
				} else if fi.Mode().IsRegular() && fi.Size() == 0 {
					t.Errorf("service %s: volume %s: empty file", name, v)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s: volume %s: %q is not declared under volumes", name, v, src)
			}
		}
		for _, f := range strs(s.EnvFile) {
			exists(t, "service "+name+": env_file", f, false)
		}
		deps := mapping(s.DependsOn)
		if deps == nil {
			deps = map[string]*yaml.Node{}
			for _, d := range strs(s.DependsOn) {
				deps[d] = &yaml.Node{}
			}
		}
		for dep, spec := range deps {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s: depends_on %q, which is not a service", name, dep)
				continue
			}
			cond := ""
			if m := mapping(*spec); m["condition"] != nil {
				cond = m["condition"].Value
			}
			switch cond {
			case "", "service_started", "service_completed_successfully":
			case "service_healthy":
				if target.Healthcheck == nil {
					t.Errorf("service %s: waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			default:
				t.Errorf("service %s: depends_on %s: unknown condition %q", name, dep, cond)
			}
		}
		// Long-running services report their health; one-shot ones exit.
		if s.Restart != "no" && s.Healthcheck == nil {
			t.Errorf("service %s: no healthcheck", name)
		}
	}
}

// composeVars are the ${NAME…} variables the Compose file interpolates;
// $$ is a literal $ for the container's shell.
func composeVars(text string) map[string]bool {
	vars := map[string]bool{}
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			continue
		}
		if strings.HasPrefix(text[i:], "$$") {
			i++
			continue
		}
		if strings.HasPrefix(text[i:], "${") {
			end := strings.IndexAny(text[i+2:], ":-?}")
			if end > 0 {
				vars[text[i+2:i+2+end]] = true
			}
		}
	}
	return vars
}

func TestComposeVariablesAreInEnvExample(t *testing.T) {
	text, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	used := composeVars(string(text))
	f, err := os.Open(envExample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not NAME=value", envExample, line)
		}
		listed[k] = true
	}
	for v := range used {
		if !listed[v] {
			t.Errorf("%s uses ${%s}, which %s does not list", composeFile, v, envExample)
		}
	}
	for v := range listed {
		if !used[v] {
			t.Errorf("%s lists %s, which %s does not use", envExample, v, composeFile)
		}
	}
}

// TestComposeMatchesTransferConfig checks that the stack gives logtransfer
// what its config names: broker and engine hosts, topics, the password
// variable, the health port, the index privileges.
func TestComposeMatchesTransferConfig(t *testing.T) {
	c := loadCompose(t)
	cfg, err := conf.LoadTransfer(transferConfig)
	if err != nil {
		t.Fatal(err)
	}
	lt, ok := c.Services["logtransfer"]
	if !ok {
		t.Fatal("no logtransfer service")
	}
	if !slices.Contains(lt.Volumes, "./"+transferConfig+":/etc/logagent/transfer.yaml:ro") {
		t.Errorf("logtransfer does not mount %s at /etc/logagent/transfer.yaml (Dockerfile's CMD): %v", transferConfig, lt.Volumes)
	}
	for _, b := range cfg.Kafka.Brokers {
		host, _, _ := strings.Cut(b, ":")
		if _, ok := c.Services[host]; !ok {
			t.Errorf("%s: broker %s is not a compose service", transferConfig, b)
		}
	}
	for _, u := range cfg.Elasticsearch.URLs {
		host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
		host, _, _ = strings.Cut(host, ":")
		if _, ok := c.Services[host]; !ok {
			t.Errorf("%s: elasticsearch url %s is not a compose service", transferConfig, u)
		}
	}
	if name, ok := strings.CutPrefix(string(cfg.Elasticsearch.Password), "env:"); ok {
		if _, set := lt.env()[name]; !set {
			t.Errorf("%s reads the password from $%s, which the logtransfer service does not set", transferConfig, name)
		}
	}
	if _, port, _ := strings.Cut(cfg.HTTPListen, ":"); lt.Healthcheck == nil || !strings.Contains(fmt.Sprint(lt.Healthcheck.Test), ":"+port+"/readyz") {
		t.Errorf("logtransfer's healthcheck does not ask /readyz on http_listen %s", cfg.HTTPListen)
	}
	initCmd := strings.Join(strs(c.Services["kafka-init"].Command), "\n")
	patterns := strings.Split(c.Services["es-setup"].env()["INDEX_PATTERNS"], ",")
	for _, topic := range cfg.Topics {
		for _, want := range []string{topic, cfg.DLQTopicFor(topic)} {
			if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(want) + `(\s|;|$)`).MatchString(initCmd) {
				t.Errorf("kafka-init does not create topic %s", want)
			}
		}
		if p := cfg.IndexName(topic, "*"); !slices.Contains(patterns, p) {
			t.Errorf("es-setup's INDEX_PATTERNS %v lack %s, which logtransfer writes", patterns, p)
		}
	}
}

func TestDockerfileContext(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(df, []byte("./cmd/logtransfer")) {
		t.Error("Dockerfile does not build ./cmd/logtransfer")
	}
	ignore, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	// Every package of the module the binary imports must be in the build
	// context.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/logtransfer")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, dir := range strings.Fields(string(out)) {
		if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") {
			needed = append(needed, filepath.ToSlash(rel))
		}
	}
	for _, path := range needed {
		if p := ignoredBy(patterns, path); p != "" {
			t.Errorf("Dockerfile.dockerignore's %q leaves %s out of the build context", p, path)
		}
	}
}

// ignoredBy returns the .dockerignore pattern that excludes path or one of
// its parent directories. It knows the subset of the syntax the file uses:
// filepath.Match patterns, optionally after "**/" (any depth).
func ignoredBy(patterns []string, path string) string {
	parts := strings.Split(path, "/")
	for _, p := range patterns {
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/")
			if ok, _ := filepath.Match(p, prefix); ok {
				return p
			}
			if rest, any := strings.CutPrefix(p, "**/"); any {
				if ok, _ := filepath.Match(rest, parts[i]); ok {
					return p
				}
			}
		}
	}
	return ""
}

func TestExampleConfigsLoad(t *testing.T) {
	if _, err := conf.LoadAgent(agentConfig); err != nil {
		t.Error(err)
	}
	if _, err := conf.LoadTransfer(transferConfig); err != nil {
		t.Error(err)
	}
}

// TestExampleConfigsShowEveryOption fails when a config field is added
// without being documented in the example files.
func TestExampleConfigsShowEveryOption(t *testing.T) {
	for file, typ := range map[string]reflect.Type{
		agentConfig:    reflect.TypeFor[conf.Agent](),
		transferConfig: reflect.TypeFor[conf.Transfer](),
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, path := range yamlPaths(typ, "") {
			v := any(doc)
			for _, k := range strings.Split(path, ".") {
				m, _ := v.(map[string]any)
				v = m[k]
				if _, ok := m[k]; !ok {
					t.Errorf("%s: option %s is missing", file, path)
					break
				}
			}
		}
	}
}

// yamlPaths lists the dotted YAML keys of a config struct; nested structs
// are sections, everything else a value.
func yamlPaths(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, yamlPaths(f.Type, prefix+key+".")...)
			continue
		}
		out = append(out, prefix+key)
	}
	return out
}

func TestScriptsParse(t *testing.T) {
	for _, script := range []string{importScript, esSetupScript} {
		if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", script, err, out)
		}
		if fi, err := os.Stat(script); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable (%v)", script, err)
		}
	}
}

// savedObject is one line of the NDJSON export format.
type savedObject struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Attributes json.RawMessage `json:"attributes"`
	References []reference     `json:"references"`
}

type reference struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (o savedObject) refNames() []string {
	var names []string
	for _, r := range o.References {
		names = append(names, r.Name)
	}
	return names
}

func loadSavedObjects(t *testing.T) []savedObject {
	t.Helper()
	b, err := os.ReadFile(savedObjects)
	if err != nil {
		t.Fatal(err)
	}
	var objs []savedObject
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var o savedObject
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&o); err != nil || dec.More() {
			t.Fatalf("%s line %d: not one JSON object: %v", savedObjects, i+1, err)
		}
		var attrs map[string]any
		if o.Type == "" || o.ID == "" || json.Unmarshal(o.Attributes, &attrs) != nil || len(attrs) == 0 {
			t.Fatalf("%s line %d: want type, id and attributes", savedObjects, i+1)
		}
		objs = append(objs, o)
	}
	return objs
}

// templateFields flattens the index template logtransfer installs for
// pattern into field path -> mapping type.
func templateFields(t *testing.T, pattern string, declared map[string]string) map[string]string {
	t.Helper()
	body, err := transfer.TemplateBody(pattern, conf.IndexSettings{}, declared)
	if err != nil {
		t.Fatal(err)
	}
	type props map[string]struct {
		Type       string          `json:"type"`
		Properties json.RawMessage `json:"properties"`
	}
	var tpl struct {
		Template struct {
			Mappings struct {
				Properties json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(body), &tpl); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	var walk func(raw json.RawMessage, prefix string)
	walk = func(raw json.RawMessage, prefix string) {
		var p props
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		for name, f := range p {
			if f.Properties != nil {
				walk(f.Properties, prefix+name+".")
			} else {
				fields[prefix+name] = f.Type
			}
		}
	}
	walk(tpl.Template.Mappings.Properties, "")
	return fields
}

// lensTypes are the mapping types a Lens column's dataType can stand for.
var lensTypes = map[string][]string{
	"date":   {"date", "date_nanos"},
	"number": {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"},
	"string": {"keyword"},
	"ip":     {"ip"},
}

// kqlField finds field names in a KQL query ("http.response.status_code >= 500").
var kqlField = regexp.MustCompile(`([A-Za-z@_][\w.@]*)\s*(?::|<=|>=|<|>)`)

// TestKibanaSavedObjects checks the objects against each other and against
// the fields of the index template logtransfer installs: a misspelled or
// unmapped field fails here, not on a dashboard.
func TestKibanaSavedObjects(t *testing.T) {
	cfg, err := conf.LoadTransfer(transferConfig)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := transfer.NewConverter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each topic's index pattern and the fields its template maps, those
	// its pipeline declares included.
	patterns := map[string]map[string]string{}
	for _, topic := range cfg.Topics {
		p := cfg.IndexName(topic, "*")
		patterns[p] = templateFields(t, p, conv.FieldTypes(topic))
	}
	objs := loadSavedObjects(t)
	viewFields := map[string]map[string]string{} // data view id → fields
	for _, o := range objs {
		if o.Type == "index-pattern" {
			var a struct{ Title string }
			_ = json.Unmarshal(o.Attributes, &a)
			viewFields[o.ID] = patterns[a.Title]
		}
	}
	// fieldsOf is the fields of an object's data view: its own, or the
	// one it references; a dashboard's are every topic's.
	fieldsOf := func(o savedObject) (map[string]string, string) {
		id := o.ID
		if o.Type != "index-pattern" {
			id = ""
			for _, r := range o.References {
				if r.Type == "index-pattern" {
					id = r.ID
					break
				}
			}
		}
		if f, ok := viewFields[id]; ok {
			return f, id
		}
		all := map[string]string{}
		for _, f := range patterns {
			maps.Copy(all, f)
		}
		return all, "every topic"
	}

	byKey := map[string]savedObject{}
	types := map[string]int{}
	for _, o := range objs {
		key := o.Type + "/" + o.ID
		if _, dup := byKey[key]; dup {
			t.Errorf("%s is in the file twice", key)
		}
		byKey[key] = o
		types[o.Type]++
	}
	for _, typ := range []string{"index-pattern", "search", "lens", "dashboard"} {
		if types[typ] == 0 {
			t.Errorf("no %s object", typ)
		}
	}
	for _, o := range objs {
		for _, r := range o.References {
			if _, ok := byKey[r.Type+"/"+r.ID]; !ok {
				t.Errorf("%s/%s: reference %s points to %s/%s, which is not in the file", o.Type, o.ID, r.Name, r.Type, r.ID)
			}
		}
	}

	field := func(o savedObject, name string, want ...string) {
		t.Helper()
		fields, view := fieldsOf(o)
		typ, ok := fields[name]
		switch {
		case !ok:
			t.Errorf("%s/%s uses field %q, which the index template of data view %s does not map", o.Type, o.ID, name, view)
		case len(want) > 0 && !slices.Contains(want, typ):
			t.Errorf("%s/%s uses field %q as %v, but it is mapped as %s", o.Type, o.ID, name, want, typ)
		}
	}
	searchSource := func(o savedObject, raw string) {
		t.Helper()
		var ss struct {
			Query struct {
				Query string `json:"query"`
			} `json:"query"`
			IndexRefName string `json:"indexRefName"`
		}
		if err := json.Unmarshal([]byte(raw), &ss); err != nil {
			t.Errorf("%s/%s: searchSourceJSON: %v", o.Type, o.ID, err)
		}
		for _, m := range kqlField.FindAllStringSubmatch(ss.Query.Query, -1) {
			field(o, m[1])
		}
		if ss.IndexRefName != "" && !slices.Contains(o.refNames(), ss.IndexRefName) {
			t.Errorf("%s/%s: indexRefName %q has no reference", o.Type, o.ID, ss.IndexRefName)
		}
	}

	for _, o := range objs {
		switch o.Type {
		case "index-pattern":
			var a struct{ Title, TimeFieldName string }
			_ = json.Unmarshal(o.Attributes, &a)
			if _, ok := patterns[a.Title]; !ok {
				t.Errorf("data view %s: title %q is not the index pattern of one of transfer.yaml's topics (its index with {date} as *)", o.ID, a.Title)
			}
			field(o, a.TimeFieldName, lensTypes["date"]...)
			if a.TimeFieldName != "@timestamp" {
				t.Errorf("data view %s: timeFieldName %q, want @timestamp", o.ID, a.TimeFieldName)
			}
		case "search":
			var a struct {
				Columns []string
				Sort    [][]string
				Meta    struct {
					SearchSourceJSON string `json:"searchSourceJSON"`
				} `json:"kibanaSavedObjectMeta"`
			}
			if err := json.Unmarshal(o.Attributes, &a); err != nil {
				t.Errorf("search %s: %v", o.ID, err)
			}
			for _, c := range a.Columns {
				field(o, c)
			}
			for _, s := range a.Sort {
				field(o, s[0])
			}
			searchSource(o, a.Meta.SearchSourceJSON)
		case "lens":
			checkLens(t, o, field)
		case "dashboard":
			var a struct {
				PanelsJSON string
				Meta       struct {
					SearchSourceJSON string `json:"searchSourceJSON"`
				} `json:"kibanaSavedObjectMeta"`
			}
			_ = json.Unmarshal(o.Attributes, &a)
			var panels []struct {
				Type, PanelRefName string
			}
			if err := json.Unmarshal([]byte(a.PanelsJSON), &panels); err != nil || len(panels) == 0 {
				t.Errorf("dashboard %s: panelsJSON: %v (%d panels)", o.ID, err, len(panels))
			}
			for _, p := range panels {
				i := slices.IndexFunc(o.References, func(r reference) bool { return r.Name == p.PanelRefName })
				if i < 0 || o.References[i].Type != p.Type {
					t.Errorf("dashboard %s: panel %q (%s) has no reference of its type", o.ID, p.PanelRefName, p.Type)
				}
			}
			searchSource(o, a.Meta.SearchSourceJSON)
		}
	}
}

// checkLens checks a Lens visualization's columns, accessors and index
// pattern references.
func checkLens(t *testing.T, o savedObject, field func(savedObject, string, ...string)) {
	t.Helper()
	var a struct {
		State struct {
			DatasourceStates map[string]struct {
				Layers map[string]struct {
					ColumnOrder []string `json:"columnOrder"`
					Columns     map[string]struct {
						OperationType string `json:"operationType"`
						SourceField   string `json:"sourceField"`
						DataType      string `json:"dataType"`
						Params        struct {
							OrderBy struct {
								ColumnID string `json:"columnId"`
							} `json:"orderBy"`
						} `json:"params"`
					} `json:"columns"`
				} `json:"layers"`
			} `json:"datasourceStates"`
			Visualization struct {
				Layers []struct {
					LayerID       string   `json:"layerId"`
					XAccessor     string   `json:"xAccessor"`
					SplitAccessor string   `json:"splitAccessor"`
					Accessors     []string `json:"accessors"`
				} `json:"layers"`
			} `json:"visualization"`
			Query struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"state"`
	}
	if err := json.Unmarshal(o.Attributes, &a); err != nil {
		t.Errorf("lens %s: %v", o.ID, err)
		return
	}
	columns := map[string]bool{}
	for _, ds := range a.State.DatasourceStates {
		for id, layer := range ds.Layers {
			if !slices.Contains(o.refNames(), "indexpattern-datasource-layer-"+id) {
				t.Errorf("lens %s: layer %s has no data view reference", o.ID, id)
			}
			for cid, c := range layer.Columns {
				columns[cid] = true
				if !slices.Contains(layer.ColumnOrder, cid) {
					t.Errorf("lens %s: column %s is not in columnOrder", o.ID, cid)
				}
				if by := c.Params.OrderBy.ColumnID; by != "" && layer.Columns[by].OperationType == "" {
					t.Errorf("lens %s: column %s is ordered by the missing column %s", o.ID, cid, by)
				}
				if c.OperationType == "count" {
					continue // counts documents ("Records" / "___records___"), no field
				}
				types, ok := lensTypes[c.DataType]
				if !ok {
					t.Errorf("lens %s: column %s: unknown dataType %q", o.ID, cid, c.DataType)
				}
				field(o, c.SourceField, types...)
			}
		}
	}
	if len(columns) == 0 {
		t.Errorf("lens %s: no columns", o.ID)
	}
	for _, l := range a.State.Visualization.Layers {
		for _, acc := range append([]string{l.XAccessor, l.SplitAccessor}, l.Accessors...) {
			if acc != "" && !columns[acc] {
				t.Errorf("lens %s: layer %s shows the missing column %s", o.ID, l.LayerID, acc)
			}
		}
	}
	for _, m := range kqlField.FindAllStringSubmatch(a.State.Query.Query, -1) {
		field(o, m[1])
	}
}
