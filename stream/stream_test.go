package stream

import (
	"reflect"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/connector/blackhole"
	"github.com/loom-yarn/loom/connector/datagen"
)

func double(i int64) int64 { return 2 * i }

func gen(i int64, _ *datagen.Rand) int64 { return i }

func TestReflectMadeFunctionIsRejected(t *testing.T) {
	env := NewEnv("j")
	src := FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: 10}), nil)
	made := reflect.MakeFunc(reflect.TypeOf(double), func(args []reflect.Value) []reflect.Value {
		return []reflect.Value{reflect.ValueOf(args[0].Int() * 3)}
	}).Interface().(func(int64) int64)
	Map(src, "triple", made).SinkTo("out", blackhole.New[int64]())
	_, err := env.Graph()
	if err == nil || !strings.Contains(err.Error(), `operator "triple": function reflect.makeFuncStub cannot be rebuilt`) {
		t.Fatalf("Graph() = %v, want the reflect-made function rejected", err)
	}
}

func TestNilFunctionIsRejected(t *testing.T) {
	env := NewEnv("j")
	src := FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: 10}), nil)
	var f func(int64) bool
	Filter(src, "nil filter", f).SinkTo("out", blackhole.New[int64]())
	if _, err := env.Graph(); err == nil || !strings.Contains(err.Error(), `operator "nil filter": function <nil> cannot be rebuilt`) {
		t.Fatalf("Graph() = %v", err)
	}
}

// point has no codec: pointers have none.
type point struct {
	X, Y int
	Next *point
}

func TestKeyByWithoutCodecIsAnError(t *testing.T) {
	env := NewEnv("j")
	src := FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: 10}), nil)
	k := KeyBy(src, func(i int64) point { return point{X: int(i)} })
	Aggregate(k, "count", Count[int64](), nil).SinkTo("out", blackhole.New[KV[point, int64]]())
	_, err := env.Graph()
	if err == nil || !strings.Contains(err.Error(), "point") || !strings.Contains(err.Error(), "KeyByCodec") && !strings.Contains(err.Error(), "codec") {
		t.Fatalf("Graph() = %v, want an error naming the key type and how to give a codec", err)
	}
}

func TestClosuresBuiltWithTheGraphAreAccepted(t *testing.T) {
	env := NewEnv("j")
	factor := int64(3)
	src := FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: 10}), nil)
	Map(src, "scale", func(i int64) int64 { return i * factor }).SinkTo("out", blackhole.New[int64]())
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Vertices) != 3 || g.Vertices[1].Funcs[0] == "" {
		t.Fatalf("unexpected graph: %+v", g.Vertices)
	}
}

func triple(i int64) int64 { return 3 * i }

// TestChainStateHashes: changing one operator changes its chain's state
// hash only; the chains a restore can still match keep theirs, and adding
// a pipeline of its own adds hashes.
func TestChainStateHashes(t *testing.T) {
	build := func(f func(int64) int64, extra bool) map[string]string {
		env := NewEnv("j")
		src := FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: 10}), nil).UID("gen")
		k := KeyBy(Map(src, "map", f).UID("map"), func(i int64) int64 { return i % 3 })
		sum := Aggregate(k, "count", Count[int64](), nil).UID("count")
		sum.SinkTo("out", blackhole.New[KV[int64, int64]]()).UID("out")
		if extra {
			other := FromSource(env, "gen2", datagen.New(gen, datagen.Options{Count: 10}), nil).UID("gen2")
			Aggregate(KeyBy(other, func(i int64) int64 { return i }), "extra", Count[int64](), nil).UID("extra").
				SinkTo("extra out", blackhole.New[KV[int64, int64]]()).UID("extra out")
		}
		g, err := env.Graph()
		if err != nil {
			t.Fatal(err)
		}
		return g.ChainStateHashes()
	}
	base, changed, more := build(double, false), build(triple, false), build(double, true)
	if len(base) != 2 {
		t.Fatalf("%d chains, want 2 (source+map, count+sink): %v", len(base), base)
	}
	var diff int
	for id, h := range base {
		if changed[id] != h {
			diff++
		}
		if more[id] != h {
			t.Errorf("chain %s: hash changed by an operator outside it", id)
		}
	}
	if diff != 1 {
		t.Errorf("changing the map's function changed %d chain hashes, want 1: %v vs %v", diff, base, changed)
	}
	if len(more) <= len(base) {
		t.Errorf("an added operator in a chain of its own adds no hash: %v", more)
	}
}
