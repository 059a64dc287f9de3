package file

import (
	"time"

	"github.com/loom-yarn/loom/conf"
)

// rollingPolicy decides when a part file rolls: is closed, to be published
// by the next completed checkpoint, so that the records of an unbounded job
// become visible while it runs. It is Flink's DefaultRollingPolicy without
// the inactivity bound. It is a pure decision: the writer gives it the
// file's size and age, so tests need no clock.
type rollingPolicy struct {
	fileSize         int64         // bytes
	rolloverInterval time.Duration // age, from the file's first record
}

// rollingPolicyOf reads the policy from the job's configuration (a
// task.Context's Config). Keys not set have conf's defaults; a bad value is
// an error naming the key and the value.
func rollingPolicyOf(config map[string]string) (rollingPolicy, error) {
	c := conf.New()
	for _, key := range []string{conf.SinkRollingFileSize.Key(), conf.SinkRolloverInterval.Key()} {
		if v, ok := config[key]; ok {
			if err := c.Set(key, v, "the job configuration"); err != nil {
				return rollingPolicy{}, err
			}
		}
	}
	return rollingPolicy{fileSize: conf.SinkRollingFileSize.Get(c), rolloverInterval: conf.SinkRolloverInterval.Get(c)}, nil
}

// due reports whether a part file of size bytes whose first record is age
// old must roll. An empty file never rolls: it would publish a file with
// nothing in it, and its age means nothing.
func (p rollingPolicy) due(size int64, age time.Duration) bool {
	return size > 0 && (size >= p.fileSize || age >= p.rolloverInterval)
}
