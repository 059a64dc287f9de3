package state

import (
	"fmt"

	"github.com/loom-yarn/loom/codec"
)

// KeyContext is the current key of a keyed operator: the operator calls SetKey
// before it touches state for a record, and every state bound to the context
// reads and writes that key's entries. Timers set it to the key of the timer
// they fire. Like the backend, it is used from the task goroutine only.
type KeyContext[K comparable] struct {
	codec          codec.Codec[K]
	maxParallelism int
	key            K
	keyBytes       []byte // codec encoding of key, reused across SetKey calls
	keyGroup       int
	hasKey         bool
}

// NewKeyContext returns a context encoding keys with c, which must be
// canonical (equal keys, equal bytes), over maxParallelism key groups. It
// panics if maxParallelism is outside [1, MaxMaxParallelism].
func NewKeyContext[K comparable](c codec.Codec[K], maxParallelism int) *KeyContext[K] {
	if maxParallelism < 1 || maxParallelism > MaxMaxParallelism {
		panic(fmt.Sprintf("state: max parallelism %d outside [1, %d]", maxParallelism, MaxMaxParallelism))
	}
	return &KeyContext[K]{codec: c, maxParallelism: maxParallelism, keyBytes: make([]byte, 0, 64)}
}

// SetKey makes k the current key. It runs per record, so it reuses one
// buffer for the encoding and allocates nothing once the buffer has grown.
func (kc *KeyContext[K]) SetKey(k K) {
	kc.key = k
	kc.keyBytes = kc.codec.Append(kc.keyBytes[:0], k)
	kc.keyGroup = KeyGroupOf(kc.keyBytes, kc.maxParallelism)
	kc.hasKey = true
}

// setEncoded sets a key whose encoding and key group are already known (a
// firing timer), skipping the encode and hash.
func (kc *KeyContext[K]) setEncoded(k K, keyBytes string, kg int) {
	kc.key = k
	kc.keyBytes = append(kc.keyBytes[:0], keyBytes...)
	kc.keyGroup = kg
	kc.hasKey = true
}

// Key is the current key.
func (kc *KeyContext[K]) Key() K { return kc.key }

// KeyBytes is the current key's encoding; it changes at the next SetKey.
func (kc *KeyContext[K]) KeyBytes() []byte { return kc.keyBytes }

// KeyGroup is the current key's key group.
func (kc *KeyContext[K]) KeyGroup() int { return kc.keyGroup }

// MaxParallelism is the number of key groups keys are hashed into.
func (kc *KeyContext[K]) MaxParallelism() int { return kc.maxParallelism }

// Codec is the codec keys are encoded with.
func (kc *KeyContext[K]) Codec() codec.Codec[K] { return kc.codec }

// check returns an error unless a key is set and its key group belongs to
// kgs. A key outside the range means records were not partitioned by this
// key; its state would vanish at the next restore, so it is refused.
func (kc *KeyContext[K]) check(state string, kgs KeyGroupRange) error {
	if !kc.hasKey {
		return fmt.Errorf("state %q: no current key; call SetKey before using keyed state", state)
	}
	if !kgs.Contains(kc.keyGroup) {
		return fmt.Errorf("state %q: key %v is in key group %d, outside this subtask's key groups %v: the input is not partitioned by this key (key the stream with the same key selector)", state, kc.key, kc.keyGroup, kgs)
	}
	return nil
}

// decodeKey decodes an entry's key, requiring the codec to consume all of it.
func (kc *KeyContext[K]) decodeKey(state string, b []byte) (K, error) {
	k, n, err := kc.codec.Decode(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%d trailing bytes", len(b)-n)
	}
	if err != nil {
		return k, fmt.Errorf("state %q: decode key %x: %w (was the state written with another key type?)", state, b, err)
	}
	return k, nil
}
