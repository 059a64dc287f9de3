package cli

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// parseSubmit parses a submit command line's flags (common, submit and a
// job flag set like grep's) and returns the pieces the submission uses.
func parseSubmit(t *testing.T, args ...string) (*submitFlags, *conf.Config, []string, error) {
	t.Helper()
	fs := pflag.NewFlagSet("submit", pflag.ContinueOnError)
	common := addCommonFlags(fs)
	sf := addSubmitFlags(fs)
	job := pflag.NewFlagSet("job", pflag.ContinueOnError)
	job.String("input", "", "")
	job.StringSlice("exclude", nil, "")
	job.Bool("header", false, "")
	job.Int("keys", 10, "")
	fs.AddFlagSet(job)
	if err := fs.Parse(args); err != nil {
		return nil, nil, nil, err
	}
	if err := sf.check(); err != nil {
		return sf, nil, nil, err
	}
	cfg, err := common.config()
	if err != nil {
		return sf, nil, nil, err
	}
	if err := sf.apply(fs, cfg); err != nil {
		return sf, nil, nil, err
	}
	return sf, cfg, jobArgs(job), nil
}

func TestJobSpecFromFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want deploy.JobSpec
	}{
		{
			name: "defaults",
			args: []string{"--input", "hdfs:///in"},
			want: deploy.JobSpec{Job: "grep", Args: []string{"--input=hdfs:///in"}, Conf: map[string]string{},
				AppName: "grep", Queue: "default", Parallelism: 1, SlotsPerWorker: 1, WorkerMemoryMB: 1024, WorkerVCores: 1},
		},
		{
			name: "every flag",
			args: []string{"--input=a b", "--exclude", "x,y", "--header", "--keys", "7", "-p", "4", "--slots-per-worker", "2",
				"--worker-memory", "2048", "--worker-vcores", "2", "--name", "nightly", "--queue", "etl",
				"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.delay=3s"},
			want: deploy.JobSpec{Job: "grep",
				Args: []string{"--exclude=x", "--exclude=y", "--header=true", "--input=a b", "--keys=7"},
				Conf: map[string]string{"parallelism.default": "4", "restart-strategy.type": "fixed-delay",
					"restart-strategy.fixed-delay.delay": "3s", "yarn.application.name": "nightly", "yarn.application.queue": "etl"},
				AppName: "nightly", Queue: "etl", Parallelism: 4, SlotsPerWorker: 2, WorkerMemoryMB: 2048, WorkerVCores: 2,
				WorkerRestarts: 3, RestartDelayMS: 3000},
		},
		{
			name: "queue and name from -D, flag wins",
			args: []string{"-D", "yarn.application.queue=a", "-D", "yarn.application.name=n", "--queue", "b"},
			want: deploy.JobSpec{Job: "grep", Args: []string{}, Conf: map[string]string{"yarn.application.queue": "b", "yarn.application.name": "n"},
				AppName: "n", Queue: "b", Parallelism: 1, SlotsPerWorker: 1, WorkerMemoryMB: 1024, WorkerVCores: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf, cfg, args, err := parseSubmit(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := newJobSpec("grep", args, cfg, sf)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("spec:\n%+v\nwant:\n%+v", *got, tc.want)
			}
		})
	}
}

func TestSubmitFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--am-memory", "0"}, "--am-memory 0: must be at least 1 MB"},
		{[]string{"--worker-vcores", "-1"}, "--worker-vcores -1: must be at least 1"},
		{[]string{"--slots-per-worker", "0"}, "--slots-per-worker 0: must be at least 1"},
		{[]string{"--max-attempts", "0"}, "--max-attempts 0: must be at least 1"},
		{[]string{"--tags", "a,,b"}, "--tags: empty tag"},
		{[]string{"-D", "yarn.application.queue"}, `-D "yarn.application.queue": want key=value`},
		{[]string{"-D", "yarn.aplication.queue=x"}, `did you mean "yarn.application.queue"?`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, _, err := parseSubmit(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLaunchContext(t *testing.T) {
	spec := &deploy.JobSpec{Job: "grep", AppName: "nightly", Queue: "etl", User: "ann",
		Staging: "hdfs://nn:8020/user/ann/.loom/application_7_0003",
		Resources: []deploy.Resource{
			{Name: "loom", Path: "hdfs://nn:8020/user/ann/.loom/application_7_0003/loom", Size: 100, Timestamp: 1700},
			{Name: "core-site.xml", Path: "hdfs://nn:8020/user/ann/.loom/application_7_0003/core-site.xml", Size: 5, Timestamp: 1701},
		}}
	specRes := deploy.Resource{Name: deploy.SpecFile, Path: "hdfs://nn:8020/user/ann/.loom/application_7_0003/job.json", Size: 9, Timestamp: 1702}
	clc := amLaunchContext(spec, specRes, splitHDFSURI)
	if !reflect.DeepEqual(clc.GetCommand(), []string{deploy.AMCommand()}) {
		t.Fatalf("command %q", clc.GetCommand())
	}
	var names []string
	for _, lr := range clc.GetLocalResources() {
		names = append(names, lr.GetKey())
		v := lr.GetValue()
		u := v.GetResource()
		if u.GetScheme() != "hdfs" || u.GetHost() != "nn" || u.GetPort() != 8020 || u.GetFile() != "/user/ann/.loom/application_7_0003/"+lr.GetKey() {
			t.Errorf("%s: URL %v", lr.GetKey(), u)
		}
		if v.GetType() != yarnpb.LocalResourceTypeProto_FILE || v.GetVisibility() != yarnpb.LocalResourceVisibilityProto_APPLICATION {
			t.Errorf("%s: type %v visibility %v", lr.GetKey(), v.GetType(), v.GetVisibility())
		}
	}
	if got := strings.Join(names, ","); got != "loom,core-site.xml,job.json" {
		t.Fatalf("local resources %s", got)
	}
	if lr := clc.GetLocalResources()[2].GetValue(); lr.GetSize() != 9 || lr.GetTimestamp() != 1702 {
		t.Fatalf("job.json size %d timestamp %d", lr.GetSize(), lr.GetTimestamp())
	}
	env := map[string]string{}
	for _, e := range clc.GetEnvironment() {
		env[e.GetKey()] = e.GetValue()
	}
	if !reflect.DeepEqual(env, map[string]string{"HADOOP_CONF_DIR": "{{PWD}}", "HADOOP_USER_NAME": "ann"}) {
		t.Fatalf("environment %v", env)
	}

	f := &submitFlags{amMemoryMB: 768, amVCores: 2, maxAttempts: 3, tags: []string{"a", "b"}}
	id := &yarnpb.ApplicationIdProto{ClusterTimestamp: proto.Int64(7), Id: proto.Int32(3)}
	sub := submissionContext(id, spec, f, clc)
	if sub.GetApplicationType() != "LOOM" || sub.GetQueue() != "etl" || sub.GetApplicationName() != "nightly" ||
		sub.GetMaxAppAttempts() != 3 || sub.GetResource().GetMemory() != 768 || sub.GetResource().GetVirtualCores() != 2 ||
		!reflect.DeepEqual(sub.GetApplicationTags(), []string{"a", "b"}) || sub.GetAmContainerSpec() != clc || sub.GetApplicationId() != id {
		t.Fatalf("submission context %v", sub)
	}
}

func TestHDFSURL(t *testing.T) {
	for _, tc := range []struct {
		uri, host string
		port      int32
		file      string
	}{
		{"hdfs://127.0.0.1:8020/user/a/x", "127.0.0.1", 8020, "/user/a/x"},
		{"hdfs://nameservice1/user/a/x", "nameservice1", 0, "/user/a/x"},
		{"hdfs://[::1]:9000/x", "::1", 9000, "/x"},
	} {
		u := hdfsURL(splitHDFSURI(tc.uri))
		if u.GetHost() != tc.host || u.GetPort() != tc.port || u.GetFile() != tc.file || (tc.port == 0 && u.Port != nil) {
			t.Errorf("%s: %v", tc.uri, u)
		}
	}
}

func TestStagingDir(t *testing.T) {
	if got := StagingDir("ann", "application_1_0002"); got != "/user/ann/.loom/application_1_0002" {
		t.Fatal(got)
	}
}

// elfHeader writes a minimal 64-byte ELF64 header.
func elfHeader(class elfClass, osabi byte, machine uint16, typ uint16) []byte {
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F'})
	h[4] = byte(class)
	h[5] = 1 // little endian
	h[6] = 1 // version
	h[7] = osabi
	binary.LittleEndian.PutUint16(h[16:], typ)
	binary.LittleEndian.PutUint16(h[18:], machine)
	binary.LittleEndian.PutUint32(h[20:], 1)
	if class == 1 {
		binary.LittleEndian.PutUint16(h[40:], 52) // ehsize
		return h[:52]
	}
	binary.LittleEndian.PutUint16(h[52:], 64)
	return h
}

type elfClass byte

func TestCheckBinary(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
		want    string // "" = accepted
	}{
		{"linux-amd64", elfHeader(2, 0, 62, 2), ""},
		{"linux-amd64-pie", elfHeader(2, 3, 62, 3), ""},
		{"linux-arm64", elfHeader(2, 0, 183, 2), "is built for EM_AARCH64"},
		{"linux-386", elfHeader(1, 0, 3, 2), "is built for EM_386 (ELFCLASS32)"},
		{"freebsd-amd64", elfHeader(2, 9, 62, 2), "is built for ELFOSABI_FREEBSD"},
		{"object-file", elfHeader(2, 0, 62, 1), "is an ELF ET_REL, not an executable"},
		{"darwin", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 60)...), "macOS (Mach-O)"},
		{"windows", append([]byte("MZ"), make([]byte, 62)...), "Windows executable"},
		{"script", []byte("#!/bin/sh\necho hi\n"), "is a script"},
		{"text", []byte("hello world\n"), "is not an executable (starts with 68 65 6c 6c)"},
		{"empty", nil, "too short to be an executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.content, 0o755); err != nil {
				t.Fatal(err)
			}
			err := checkBinary(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want it to name %s and contain %q", err, p, tc.want)
			}
			if !strings.Contains(err.Error(), "GOOS=linux GOARCH=amd64") {
				t.Fatalf("error %v does not say how to fix it", err)
			}
		})
	}
	t.Run("this test binary", func(t *testing.T) {
		if err := checkBinary(self); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if err := checkBinary(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestCheckCapability(t *testing.T) {
	max := &yarnpb.ResourceProto{Memory: proto.Int64(4096), VirtualCores: proto.Int32(4)}
	for _, tc := range []struct {
		name string
		f    submitFlags
		want []string
	}{
		{"fits", submitFlags{amMemoryMB: 4096, amVCores: 4, workerMemoryMB: 1024, workerVCores: 1}, nil},
		{"worker memory", submitFlags{amMemoryMB: 512, amVCores: 1, workerMemoryMB: 8192, workerVCores: 1},
			[]string{"--worker-memory 8192 MB is above the cluster's largest container (4096 MB, yarn.scheduler.maximum-allocation-mb)"}},
		{"am vcores and worker vcores", submitFlags{amMemoryMB: 512, amVCores: 5, workerMemoryMB: 512, workerVCores: 9},
			[]string{"--am-vcores 5 is above the cluster's largest container (4, yarn.scheduler.maximum-allocation-vcores)", "--worker-vcores 9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCapability(&tc.f, max)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func report(st yarnpb.YarnApplicationStateProto, final yarnpb.FinalApplicationStatusProto, diag string) *yarnpb.ApplicationReportProto {
	r := &yarnpb.ApplicationReportProto{YarnApplicationState: st.Enum(), FinalApplicationStatus: final.Enum()}
	if diag != "" {
		r.Diagnostics = proto.String(diag)
	}
	return r
}

func TestReportOutcome(t *testing.T) {
	const app = "application_1_0001"
	for _, tc := range []struct {
		name  string
		rep   *yarnpb.ApplicationReportProto
		queue string
		want  string // "" = success
	}{
		{"succeeded", report(yarnpb.YarnApplicationStateProto_FINISHED, yarnpb.FinalApplicationStatusProto_APP_SUCCEEDED, ""), "default", ""},
		{"finished but failed", report(yarnpb.YarnApplicationStateProto_FINISHED, yarnpb.FinalApplicationStatusProto_APP_FAILED, "task grep/1: boom"), "default",
			"application_1_0001 ended FINISHED (final status FAILED): task grep/1: boom; logs: `yarn logs -applicationId application_1_0001`"},
		{"failed", report(yarnpb.YarnApplicationStateProto_FAILED, yarnpb.FinalApplicationStatusProto_APP_FAILED, "AM Container for appattempt_1_0001_000001 exited with exitCode: 1"), "default",
			"ended FAILED (final status FAILED): AM Container for appattempt_1_0001_000001 exited"},
		{"killed", report(yarnpb.YarnApplicationStateProto_KILLED, yarnpb.FinalApplicationStatusProto_APP_KILLED, "killed by loom kill"), "default",
			"ended KILLED (final status KILLED): killed by loom kill"},
		{"no diagnostics", report(yarnpb.YarnApplicationStateProto_FAILED, yarnpb.FinalApplicationStatusProto_APP_FAILED, "N/A"), "default",
			"(final status FAILED): YARN gave no diagnostics"},
		{"unknown queue", report(yarnpb.YarnApplicationStateProto_FAILED, yarnpb.FinalApplicationStatusProto_APP_FAILED,
			"Application application_1_0001 submitted by user root to unknown queue: nope"), "nope",
			`application_1_0001 was rejected by YARN for queue "nope": Application application_1_0001 submitted by user root to unknown queue: nope (choose an existing queue with --queue)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reportOutcome(app, tc.queue, tc.rep)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestStatusOutcome(t *testing.T) {
	for _, tc := range []struct {
		st    yarnpb.YarnApplicationStateProto
		final yarnpb.FinalApplicationStatusProto
		ok    bool
	}{
		{yarnpb.YarnApplicationStateProto_ACCEPTED, yarnpb.FinalApplicationStatusProto_APP_UNDEFINED, true},
		{yarnpb.YarnApplicationStateProto_RUNNING, yarnpb.FinalApplicationStatusProto_APP_UNDEFINED, true},
		{yarnpb.YarnApplicationStateProto_FINISHED, yarnpb.FinalApplicationStatusProto_APP_SUCCEEDED, true},
		{yarnpb.YarnApplicationStateProto_FINISHED, yarnpb.FinalApplicationStatusProto_APP_FAILED, false},
		{yarnpb.YarnApplicationStateProto_FAILED, yarnpb.FinalApplicationStatusProto_APP_FAILED, false},
		{yarnpb.YarnApplicationStateProto_KILLED, yarnpb.FinalApplicationStatusProto_APP_KILLED, false},
	} {
		err := statusOutcome("application_1_0001", report(tc.st, tc.final, "d"))
		if (err == nil) != tc.ok {
			t.Errorf("%v/%v: error %v, want ok=%v", tc.st, tc.final, err, tc.ok)
		}
	}
}

func TestRMError(t *testing.T) {
	refused := rmError("new application", "rm:8032", "yarn.resourcemanager.address in /c/yarn-site.xml",
		fmt.Errorf("call: %w", &ipc.RemoteError{Class: ipc.ClassAccessControl, Message: "User bob cannot submit"}))
	if want := "new application: the ResourceManager at rm:8032 refused: call: remote AccessControlException: User bob cannot submit"; refused.Error() != want {
		t.Errorf("refused:\n%s\nwant\n%s", refused, want)
	}
	down := rmError("new application", "127.0.0.1:1", "yarn.resourcemanager.address in /c/yarn-site.xml", errors.New("connect: connection refused"))
	if want := "new application: cannot reach the ResourceManager at 127.0.0.1:1 (yarn.resourcemanager.address in /c/yarn-site.xml): connect: connection refused; is YARN running there?"; down.Error() != want {
		t.Errorf("unreachable:\n%s\nwant\n%s", down, want)
	}
}

func TestRMAddressSource(t *testing.T) {
	site := func(props ...string) string {
		var b strings.Builder
		b.WriteString("<configuration>")
		for i := 0; i < len(props); i += 2 {
			fmt.Fprintf(&b, "<property><name>%s</name><value>%s</value></property>", props[i], props[i+1])
		}
		b.WriteString("</configuration>")
		return b.String()
	}
	for _, tc := range []struct {
		name, xml, want string
	}{
		{"address", site("yarn.resourcemanager.address", "rm:8032"), "yarn.resourcemanager.address in %s/yarn-site.xml"},
		{"hostname", site("yarn.resourcemanager.hostname", "rm"), "yarn.resourcemanager.hostname in %s/yarn-site.xml with the default port 8032"},
		{"neither", site(), "YARN's default, since %s/yarn-site.xml sets neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "yarn-site.xml"), []byte(tc.xml), 0o644); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(tc.want, dir)
			if got := rmAddressSource(dir); !strings.HasPrefix(got, want) {
				t.Fatalf("got %q, want prefix %q", got, want)
			}
		})
	}
}

func TestListFilter(t *testing.T) {
	f, err := listFilter([]string{"running", " Accepted"}, []string{"nightly"})
	if err != nil {
		t.Fatal(err)
	}
	want := []yarnpb.YarnApplicationStateProto{yarnpb.YarnApplicationStateProto_RUNNING, yarnpb.YarnApplicationStateProto_ACCEPTED}
	if !reflect.DeepEqual(f.States, want) || !reflect.DeepEqual(f.Types, []string{"LOOM"}) || !reflect.DeepEqual(f.Tags, []string{"nightly"}) {
		t.Fatalf("filter %+v", f)
	}
	if _, err := listFilter([]string{"runing"}, nil); err == nil || !strings.Contains(err.Error(), `--state "runing": want one of`) {
		t.Fatalf("error %v", err)
	}
}

func TestFilesToShip(t *testing.T) {
	confDir, other := t.TempDir(), t.TempDir()
	for _, n := range []string{"core-site.xml", "yarn-site.xml"} {
		os.WriteFile(filepath.Join(confDir, n), []byte("<configuration/>"), 0o644)
	}
	extra := filepath.Join(other, "lookup.csv")
	os.WriteFile(extra, []byte("a,b\n"), 0o644)
	files, err := filesToShip("/bin/loom", confDir, []string{extra})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.name+"="+f.local)
	}
	want := []string{"loom=/bin/loom", "core-site.xml=" + filepath.Join(confDir, "core-site.xml"),
		"yarn-site.xml=" + filepath.Join(confDir, "yarn-site.xml"), "lookup.csv=" + extra}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v\nwant %v", got, want)
	}

	clash := filepath.Join(other, "job.json")
	os.WriteFile(clash, []byte("{}"), 0o644)
	for _, tc := range []struct{ file, want string }{
		{clash, "the name job.json is already used by the job spec"},
		{filepath.Join(other, "missing.txt"), "--ship-files " + filepath.Join(other, "missing.txt") + ": no such file or directory"},
		{other, "is a directory"},
	} {
		if _, err := filesToShip("/bin/loom", confDir, []string{tc.file}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.file, err, tc.want)
		}
	}
}
