package stream

import (
	"reflect"
	goruntime "runtime"
	"strings"
)

// funcSymbol names a user function for the graph's identity, and reports
// functions that another process could not rebuild: nil, or made at run time
// by reflection (they have no symbol of their own in the binary).
func funcSymbol(f any) (string, bool) {
	v := reflect.ValueOf(f)
	if !v.IsValid() || (v.Kind() == reflect.Func && v.IsNil()) {
		return "<nil>", false
	}
	if v.Kind() != reflect.Func {
		// A function object (an interface implementation): its type names it.
		t := reflect.TypeOf(f)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return t.PkgPath() + "." + t.Name(), t.Name() != ""
	}
	fn := goruntime.FuncForPC(v.Pointer())
	if fn == nil {
		return "<unknown>", false
	}
	name := fn.Name()
	if strings.HasPrefix(name, "reflect.") {
		return name, false
	}
	return name, true
}

// checkFuncs records an error for every function of operator op that cannot
// be rebuilt, and returns the symbols of the others.
func (e *Env) checkFuncs(op string, fs ...any) []string {
	var syms []string
	for _, f := range fs {
		sym, ok := funcSymbol(f)
		if !ok {
			e.errorf("operator %q: function %s cannot be rebuilt in another process: pass a named function or a closure created while the job builds its graph", op, sym)
			continue
		}
		syms = append(syms, sym)
	}
	return syms
}
