package codec

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// Derived codecs: For builds one for a type with no built-in codec when
// everything in the type is plain data. The type is inspected with reflection
// once; what comes out is a plan, a flat list of steps (field offset and kind),
// and the per-value Append and Decode walk the plan over the value's memory
// through unsafe pointers, so Append allocates nothing and Decode allocates
// only the strings and slices it returns.
//
// Supported: bool; all sized and unsized ints and uints except uintptr;
// float32 and float64; string; time.Time; structs, arrays and slices of
// supported types, recursively (a struct may hold a slice of itself); named
// types whose underlying type is one of these (type UserID string).
// Pointers, maps, interfaces, channels, funcs, complex numbers, uintptr and
// unsafe.Pointer are not: For's error names the first such field.
//
// The format, with no version byte or field names (a change to a record type
// changes its format, so savepoints and workers must use the same types):
//
//   - scalars, string, []byte and time.Time: as the built-in codec of the
//     underlying type (Int64, String, Float64, Time, ...), so a derived
//     codec of type UserID string writes what String writes.
//   - struct: its fields in declaration order, nothing in between. Blank
//     (_) fields are skipped, because == ignores them and equal values must
//     encode alike. Unexported fields are included: the codec copies memory,
//     and a record's unexported fields are part of its value. (So a type
//     whose value is not its memory, a sync.Mutex or an atomic.Int64, should
//     not be in a record: it would be copied as plain data.) Embedded
//     structs are fields like any other. An empty struct encodes to no bytes.
//   - time.Time keeps Time's range, 1678 to 2262: the zero time.Time is
//     outside it and does not round-trip. Use a set time or an int64.
//   - array [N]E: its N elements, no count; [N]byte is the N bytes.
//   - slice []E: a varint count, then the elements (as Slice does); []byte
//     and other slices of a uint8 kind are a varint length and the bytes.
//     An empty slice decodes as nil. Slices of a type that encodes to no
//     bytes (struct{}, [0]int) are rejected: their count could not be
//     checked against the input's length before allocating.
//
// The encoding is canonical: floats, times and nil-versus-empty slices are
// normalised as the built-in codecs do, so equal values (==, or
// reflect.DeepEqual for types with slices) have equal bytes, in every process
// on every platform (int is always encoded as 64 bits).

// kind is what one step reads or writes.
type kind uint8

const (
	kBool kind = iota
	kInt
	kInt8
	kInt16
	kInt32
	kInt64
	kUint
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kString
	kBytes     // a slice whose element kind is uint8
	kTime      // time.Time, or a named type with its layout
	kByteArray // [n]uint8: the n bytes as they are
	kArray     // [n]elem
	kSlice     // []elem
)

// step encodes one field at a fixed offset from the value's address.
type step struct {
	kind kind
	off  uintptr
	n    int    // kByteArray and kArray: the length
	elem *plan  // kArray and kSlice: the element's plan
	path string // the field, relative to the plan's type, for decode errors
}

// plan is the compiled codec of one type. Nested structs are flattened into
// their parent's steps; arrays and slices refer to their element's plan.
type plan struct {
	name   string
	rtype  unsafe.Pointer // the type's runtime descriptor, to allocate slices of it
	size   uintptr
	minLen int // the fewest bytes an encoding takes
	steps  []step
}

// sliceHeader is the memory layout of every slice type.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// unsafeNewArray allocates n zeroed values of the type described by typ, with
// the pointer layout the garbage collector needs: the one allocation
// reflect.MakeSlice makes, without the Value around it. The runtime keeps this
// symbol for packages like this one (see the "hall of shame" note on
// reflect.unsafe_NewArray); TestDerivedSlicesSurviveGC guards it.
//
//go:linkname unsafeNewArray reflect.unsafe_NewArray
//go:noescape
func unsafeNewArray(typ unsafe.Pointer, n int) unsafe.Pointer

// maxDecodeDepth bounds slice nesting on decode. Only a recursive type can
// nest deeper than its declaration, and garbage input for one must not
// exhaust the stack.
const maxDecodeDepth = 1000

var timeType = reflect.TypeFor[time.Time]()

// derivedCodec is the Codec of T built from T's plan.
type derivedCodec[T any] struct{ p *plan }

func (c derivedCodec[T]) Append(dst []byte, v T) []byte {
	return c.p.append(dst, unsafe.Pointer(&v))
}

func (c derivedCodec[T]) Decode(src []byte) (T, int, error) {
	var v T
	n, err := c.p.decode(src, unsafe.Pointer(&v), 0)
	if err != nil {
		var zero T
		if pe, ok := err.(*pathError); ok && pe.path != "" {
			return zero, 0, fmt.Errorf("decode %s at %s: %w", c.p.name, pe.path, pe.err)
		}
		return zero, 0, fmt.Errorf("decode %s: %w", c.p.name, err)
	}
	return v, n, nil
}

// derived caches the outcome of derivation per type: a derivation or an error.
var derived sync.Map // reflect.Type -> derivation

type derivation struct {
	p   *plan
	err error
}

// planOf returns the plan of t, deriving it on first use.
func planOf(t reflect.Type) (*plan, error) {
	if d, ok := derived.Load(t); ok {
		return d.(derivation).p, d.(derivation).err
	}
	d := &deriver{root: t.String(), plans: map[reflect.Type]*plan{}}
	p, err := d.planFor(t, "")
	if err == nil {
		err = d.checkSlices()
	}
	if err != nil {
		p = nil
	}
	got, _ := derived.LoadOrStore(t, derivation{p: p, err: err})
	return got.(derivation).p, got.(derivation).err
}

// deriver builds the plans of one root type and the types inside it.
type deriver struct {
	root   string
	plans  map[reflect.Type]*plan // complete or in progress: a recursive type refers to its own plan
	slices []sliceUse
}

// sliceUse is a slice of elem found at path, checked once all plans are
// complete (a recursive element's length is not known when it is met).
type sliceUse struct {
	elem *plan
	path string
}

func (d *deriver) planFor(t reflect.Type, path string) (*plan, error) {
	if p, ok := d.plans[t]; ok {
		return p, nil
	}
	p := &plan{name: t.String(), rtype: reflect.ValueOf(t).UnsafePointer(), size: t.Size()}
	d.plans[t] = p
	if err := d.addSteps(p, t, 0, path, ""); err != nil {
		return nil, err
	}
	for _, s := range p.steps {
		p.minLen += s.minLen()
	}
	return p, nil
}

// addSteps appends to p the steps that encode a t at offset off. path is
// from the root type (for derivation errors), rel from p's type.
func (d *deriver) addSteps(p *plan, t reflect.Type, off uintptr, path, rel string) error {
	add := func(k kind) { p.steps = append(p.steps, step{kind: k, off: off, path: rel}) }
	if t == timeType || t.Kind() == reflect.Struct && t.ConvertibleTo(timeType) {
		add(kTime)
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		add(kBool)
	case reflect.Int:
		add(kInt)
	case reflect.Int8:
		add(kInt8)
	case reflect.Int16:
		add(kInt16)
	case reflect.Int32:
		add(kInt32)
	case reflect.Int64:
		add(kInt64)
	case reflect.Uint:
		add(kUint)
	case reflect.Uint8:
		add(kUint8)
	case reflect.Uint16:
		add(kUint16)
	case reflect.Uint32:
		add(kUint32)
	case reflect.Uint64:
		add(kUint64)
	case reflect.Float32:
		add(kFloat32)
	case reflect.Float64:
		add(kFloat64)
	case reflect.String:
		add(kString)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue
			}
			if err := d.addSteps(p, f.Type, off+f.Offset, joinPath(path, f.Name), joinPath(rel, f.Name)); err != nil {
				return err
			}
		}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			p.steps = append(p.steps, step{kind: kByteArray, off: off, n: t.Len(), path: rel})
			return nil
		}
		elem, err := d.planFor(t.Elem(), path+"[]")
		if err != nil {
			return err
		}
		p.steps = append(p.steps, step{kind: kArray, off: off, n: t.Len(), elem: elem, path: rel})
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			add(kBytes)
			return nil
		}
		elem, err := d.planFor(t.Elem(), path+"[]")
		if err != nil {
			return err
		}
		d.slices = append(d.slices, sliceUse{elem: elem, path: path})
		p.steps = append(p.steps, step{kind: kSlice, off: off, elem: elem, path: rel})
	default:
		return d.unsupported(path, t, unsupportedReason(t.Kind()))
	}
	return nil
}

func unsupportedReason(k reflect.Kind) string {
	switch k {
	case reflect.Pointer:
		return "pointers are not supported"
	case reflect.Map:
		return "maps are not supported (their order would make equal values encode differently)"
	case reflect.Interface:
		return "interfaces are not supported"
	case reflect.Complex64, reflect.Complex128:
		return "complex numbers are not supported"
	}
	return fmt.Sprintf("%s values cannot be encoded", k)
}

func (d *deriver) unsupported(path string, t reflect.Type, why string) error {
	switch {
	case path == "":
		return fmt.Errorf("codec: no codec for %s: %s; give one with codec.JSON[%s]() or your own codec.Codec", d.root, why, d.root)
	case path[0] == '[':
		return fmt.Errorf("codec: no codec for %s element %s of type %s: %s; give one with codec.JSON[%s]() or your own codec.Codec", d.root, path, t, why, d.root)
	}
	return fmt.Errorf("codec: no codec for %s field %s of type %s: %s; give one with codec.JSON[%s]() or your own codec.Codec", d.root, path, t, why, d.root)
}

// checkSlices rejects slices whose elements may encode to no bytes: Decode
// could not bound their count by the input's length before allocating.
func (d *deriver) checkSlices() error {
	for _, s := range d.slices {
		if s.elem.minLen == 0 {
			return fmt.Errorf("codec: no codec for %s: %s of %s would encode each element as no bytes; give one with codec.JSON[%s]() or your own codec.Codec",
				d.root, describeSlice(s.path), s.elem.name, d.root)
		}
	}
	return nil
}

func describeSlice(path string) string {
	if path == "" {
		return "a slice"
	}
	return "field " + path + ", a slice"
}

func joinPath(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "" || b[0] == '[':
		return a + b
	}
	return a + "." + b
}

func (s *step) minLen() int {
	switch s.kind {
	case kFloat32:
		return 4
	case kFloat64:
		return 8
	case kByteArray:
		return s.n
	case kArray:
		return s.n * s.elem.minLen // an array's element is never its container: it is complete
	}
	return 1
}

// append encodes the value at base. The switch is the whole per-value cost:
// no reflection, no allocation beyond growing dst.
func (p *plan) append(dst []byte, base unsafe.Pointer) []byte {
	for i := range p.steps {
		s := &p.steps[i]
		f := unsafe.Add(base, s.off)
		switch s.kind {
		case kBool:
			dst = boolCodec{}.Append(dst, *(*bool)(f))
		case kInt:
			dst = binary.AppendVarint(dst, int64(*(*int)(f)))
		case kInt8:
			dst = append(dst, *(*uint8)(f))
		case kInt16:
			dst = binary.AppendVarint(dst, int64(*(*int16)(f)))
		case kInt32:
			dst = binary.AppendVarint(dst, int64(*(*int32)(f)))
		case kInt64:
			dst = binary.AppendVarint(dst, *(*int64)(f))
		case kUint:
			dst = binary.AppendUvarint(dst, uint64(*(*uint)(f)))
		case kUint8:
			dst = append(dst, *(*uint8)(f))
		case kUint16:
			dst = binary.AppendUvarint(dst, uint64(*(*uint16)(f)))
		case kUint32:
			dst = binary.AppendUvarint(dst, uint64(*(*uint32)(f)))
		case kUint64:
			dst = binary.AppendUvarint(dst, *(*uint64)(f))
		case kFloat32:
			dst = float32Codec{}.Append(dst, *(*float32)(f))
		case kFloat64:
			dst = float64Codec{}.Append(dst, *(*float64)(f))
		case kString:
			dst = stringCodec{}.Append(dst, *(*string)(f))
		case kBytes:
			dst = bytesCodec{}.Append(dst, *(*[]byte)(f))
		case kTime:
			dst = timeCodec{}.Append(dst, *(*time.Time)(f))
		case kByteArray:
			dst = append(dst, unsafe.Slice((*byte)(f), s.n)...)
		case kArray:
			for j := range s.n {
				dst = s.elem.append(dst, unsafe.Add(f, uintptr(j)*s.elem.size))
			}
		case kSlice:
			h := (*sliceHeader)(f)
			dst = binary.AppendUvarint(dst, uint64(h.len))
			for j := range h.len {
				dst = s.elem.append(dst, unsafe.Add(h.data, uintptr(j)*s.elem.size))
			}
		}
	}
	return dst
}

// decode fills the zero value at base from src and returns the bytes used.
// Errors are *pathError naming the field, relative to p's type.
func (p *plan) decode(src []byte, base unsafe.Pointer, depth int) (int, error) {
	n := 0
	for i := range p.steps {
		s := &p.steps[i]
		f := unsafe.Add(base, s.off)
		rest := src[n:]
		var m int
		var err error
		switch s.kind {
		case kBool:
			*(*bool)(f), m, err = Bool.Decode(rest)
		case kInt:
			*(*int)(f), m, err = Int.Decode(rest)
		case kInt8:
			*(*int8)(f), m, err = Int8.Decode(rest)
		case kInt16:
			*(*int16)(f), m, err = Int16.Decode(rest)
		case kInt32:
			*(*int32)(f), m, err = Int32.Decode(rest)
		case kInt64: // the commonest field (ids, timestamps, counts): skip the interface call
			if x, k := binary.Varint(rest); k > 0 {
				*(*int64)(f), m = x, k
			} else {
				_, _, err = Int64.Decode(rest) // names the failure
			}
		case kUint:
			*(*uint)(f), m, err = Uint.Decode(rest)
		case kUint8:
			*(*uint8)(f), m, err = Uint8.Decode(rest)
		case kUint16:
			*(*uint16)(f), m, err = Uint16.Decode(rest)
		case kUint32:
			*(*uint32)(f), m, err = Uint32.Decode(rest)
		case kUint64:
			*(*uint64)(f), m, err = Uint64.Decode(rest)
		case kFloat32:
			*(*float32)(f), m, err = Float32.Decode(rest)
		case kFloat64:
			*(*float64)(f), m, err = Float64.Decode(rest)
		case kString:
			*(*string)(f), m, err = String.Decode(rest)
		case kBytes:
			*(*[]byte)(f), m, err = Bytes.Decode(rest)
		case kTime:
			*(*time.Time)(f), m, err = Time.Decode(rest)
		case kByteArray:
			if len(rest) < s.n {
				err = fmt.Errorf("decode [%d]byte: %d bytes left: %w", s.n, len(rest), ErrShort)
				break
			}
			m = copy(unsafe.Slice((*byte)(f), s.n), rest)
		case kArray:
			for j := range s.n {
				k, err := s.elem.decode(rest[m:], unsafe.Add(f, uintptr(j)*s.elem.size), depth)
				if err != nil {
					return 0, atIndex(s.path, j, err)
				}
				m += k
			}
		case kSlice:
			m, err = s.decodeSlice(rest, f, depth)
		}
		if err != nil {
			if _, ok := err.(*pathError); !ok {
				err = &pathError{path: s.path, err: err}
			}
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (s *step) decodeSlice(src []byte, f unsafe.Pointer, depth int) (int, error) {
	if depth >= maxDecodeDepth {
		return 0, fmt.Errorf("decode slice: nested more than %d deep", maxDecodeDepth)
	}
	count, n, err := uvarint(src, "slice length")
	if err != nil {
		return 0, err
	}
	e := s.elem
	if count > uint64((len(src)-n)/e.minLen) {
		return 0, fmt.Errorf("decode slice: %d elements cannot fit in %d bytes: %w", count, len(src)-n, ErrShort)
	}
	if count == 0 {
		return n, nil // the field is already nil
	}
	data := unsafeNewArray(e.rtype, int(count))
	for j := range int(count) {
		m, err := e.decode(src[n:], unsafe.Add(data, uintptr(j)*e.size), depth+1)
		if err != nil {
			return 0, atIndex(s.path, j, err)
		}
		n += m
	}
	*(*sliceHeader)(f) = sliceHeader{data: data, len: int(count), cap: int(count)}
	return n, nil
}

// pathError is a decode error inside a derived codec, with the field it
// happened in: Items[3].Note.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// atIndex puts element j of the array or slice at path in front of the path
// of err, which happened inside that element.
func atIndex(path string, j int, err error) error {
	at := fmt.Sprintf("%s[%d]", path, j)
	if pe, ok := err.(*pathError); ok {
		return &pathError{path: joinPath(at, pe.path), err: pe.err}
	}
	return &pathError{path: at, err: err}
}
