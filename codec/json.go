package codec

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
)

// JSON returns a codec that stores T as length-prefixed encoding/json. It is
// the explicit opt-in for user structs where speed does not matter: it
// reflects and allocates on every value. It is not canonical for keys whose
// JSON depends on map order or floating-point formatting; use it for values.
//
// Append cannot return an error (Codec's contract), so a value encoding/json
// rejects (a NaN float, a channel, a failing MarshalJSON) panics with a
// message naming T: that is a bug in the job's types, not in its input.
func JSON[T any]() Codec[T] {
	return jsonCodec[T]{name: reflect.TypeFor[T]().String()}
}

type jsonCodec[T any] struct{ name string }

func (c jsonCodec[T]) Append(dst []byte, v T) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("codec.JSON[%s]: cannot encode value: %v", c.name, err))
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func (c jsonCodec[T]) Decode(src []byte) (T, int, error) {
	var v T
	b, n, err := lengthPrefixed(src, "json "+c.name)
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, 0, fmt.Errorf("decode json %s: %w", c.name, err)
	}
	return v, n, nil
}
