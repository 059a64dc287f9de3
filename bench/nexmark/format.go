package nexmark

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Result rows are text lines: the columns of the query's SQL result in
// order, separated by a TAB, with
//   - integers in decimal,
//   - DECIMAL(23, 3) prices (q1, q14) with exactly 3 decimals: 90.800,
//   - TIMESTAMP(3) columns in Flink's SQL format, UTC: 2024-01-01 00:00:00.000,
//   - strings as they are (the generated ones hold no TAB or newline).
// Sorting the lines of two engines' results and comparing them compares the
// results as multisets of rows.

const msPerDay = 86_400_000

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// dayOf is the UTC day of ms, in days since 1970-01-01.
func dayOf(ms int64) int64 { return floorDiv(ms, msPerDay) }

// civil is the proleptic Gregorian date of day d since 1970-01-01 (Howard
// Hinnant's days_from_civil inverse).
func civil(d int64) (year int64, month, day int) {
	z := d + 719_468
	era := floorDiv(z, 146_097)
	doe := z - era*146_097
	yoe := (doe - doe/1460 + doe/36_524 - doe/146_096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

// appendDate appends day d as yyyy-MM-dd.
func appendDate(dst []byte, d int64) []byte {
	y, m, dd := civil(d)
	if y >= 0 && y <= 9999 {
		dst = appendDigits4(dst, int(y))
	} else {
		dst = strconv.AppendInt(dst, y, 10)
	}
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, dd)
}

// appendClock appends the time of day of ms as HH:mm.
func appendClock(dst []byte, ms int64) []byte {
	t := int(ms - dayOf(ms)*msPerDay)
	dst = append2(dst, t/3_600_000)
	dst = append(dst, ':')
	return append2(dst, t/60_000%60)
}

// appendTimestamp appends ms as yyyy-MM-dd HH:mm:ss.SSS (UTC).
func appendTimestamp(dst []byte, ms int64) []byte {
	d := dayOf(ms)
	t := int(ms - d*msPerDay)
	dst = appendDate(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, t/3_600_000)
	dst = append(dst, ':')
	dst = append2(dst, t/60_000%60)
	dst = append(dst, ':')
	dst = append2(dst, t/1000%60)
	dst = append(dst, '.')
	ms3 := t % 1000
	return append(dst, byte('0'+ms3/100), byte('0'+ms3/10%10), byte('0'+ms3%10))
}

// appendMilli appends v thousandths as a decimal with 3 places: 90800 is 90.800.
func appendMilli(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		if v == -v { // math.MinInt64
			return append(dst, "9223372036854775.808"...)
		}
		v = -v
	}
	dst = strconv.AppendInt(dst, v/1000, 10)
	f := int(v % 1000)
	return append(dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// cols appends the TAB-separated columns of a result row:
// cols{b: dst}.Int(a).Str(b).Time(c).b is dst with "a<TAB>b<TAB>c".
type cols struct {
	b       []byte
	started bool
}

func (c cols) next() cols {
	if c.started {
		c.b = append(c.b, '\t')
	}
	c.started = true
	return c
}

// Int appends an integer column.
func (c cols) Int(v int64) cols { c = c.next(); c.b = strconv.AppendInt(c.b, v, 10); return c }

// Str appends a string column.
func (c cols) Str(s string) cols { c = c.next(); c.b = append(c.b, s...); return c }

// Time appends a TIMESTAMP(3) column.
func (c cols) Time(ms int64) cols { c = c.next(); c.b = appendTimestamp(c.b, ms); return c }

// Milli appends a DECIMAL(_, 3) column given in thousandths.
func (c cols) Milli(v int64) cols { c = c.next(); c.b = appendMilli(c.b, v); return c }

// Date appends a yyyy-MM-dd column given as a day number.
func (c cols) Date(day int64) cols { c = c.next(); c.b = appendDate(c.b, day); return c }

// AppendJSON appends event e as one JSON object, without a newline, in the
// shape of the Nexmark suite's datagen table, so that Flink SQL reads it
// with 'format' = 'json' into the same columns:
//
//	{"event_type":0,"person":{"id":..,"name":..,"emailAddress":..,"creditCard":..,"city":..,"state":..,"dateTime":..,"extra":..}}
//	{"event_type":1,"auction":{"id":..,"itemName":..,"description":..,"initialBid":..,"reserve":..,"dateTime":..,"expires":..,"seller":..,"category":..,"extra":..}}
//	{"event_type":2,"bid":{"auction":..,"bidder":..,"price":..,"channel":..,"url":..,"dateTime":..,"extra":..}}
//
// Times are strings in Flink's SQL timestamp format (its JSON format's
// default, json.timestamp-format.standard SQL), UTC, to the millisecond.
func AppendJSON(dst []byte, e Event) []byte {
	dst = append(dst, `{"event_type":`...)
	dst = strconv.AppendInt(dst, int64(e.Kind), 10)
	switch e.Kind {
	case KindPerson:
		p := e.Person
		dst = append(dst, `,"person":{"id":`...)
		dst = strconv.AppendInt(dst, p.ID, 10)
		dst = jsonString(dst, `,"name":`, p.Name)
		dst = jsonString(dst, `,"emailAddress":`, p.EmailAddress)
		dst = jsonString(dst, `,"creditCard":`, p.CreditCard)
		dst = jsonString(dst, `,"city":`, p.City)
		dst = jsonString(dst, `,"state":`, p.State)
		dst = jsonTime(dst, `,"dateTime":`, p.DateTime)
		dst = jsonString(dst, `,"extra":`, p.Extra)
	case KindAuction:
		a := e.Auction
		dst = append(dst, `,"auction":{"id":`...)
		dst = strconv.AppendInt(dst, a.ID, 10)
		dst = jsonString(dst, `,"itemName":`, a.ItemName)
		dst = jsonString(dst, `,"description":`, a.Description)
		dst = jsonInt(dst, `,"initialBid":`, a.InitialBid)
		dst = jsonInt(dst, `,"reserve":`, a.Reserve)
		dst = jsonTime(dst, `,"dateTime":`, a.DateTime)
		dst = jsonTime(dst, `,"expires":`, a.Expires)
		dst = jsonInt(dst, `,"seller":`, a.Seller)
		dst = jsonInt(dst, `,"category":`, a.Category)
		dst = jsonString(dst, `,"extra":`, a.Extra)
	default:
		b := &e.Bid
		dst = append(dst, `,"bid":{"auction":`...)
		dst = strconv.AppendInt(dst, b.Auction, 10)
		dst = jsonInt(dst, `,"bidder":`, b.Bidder)
		dst = jsonInt(dst, `,"price":`, b.Price)
		dst = jsonString(dst, `,"channel":`, b.Channel)
		dst = jsonString(dst, `,"url":`, b.URL)
		dst = jsonTime(dst, `,"dateTime":`, b.DateTime)
		dst = jsonString(dst, `,"extra":`, b.Extra)
	}
	return append(dst, "}}"...)
}

func jsonInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(dst, key...), v, 10)
}

func jsonTime(dst []byte, key string, ms int64) []byte {
	dst = append(append(dst, key...), '"')
	return append(appendTimestamp(dst, ms), '"')
}

// jsonString appends key and s quoted; the generated strings need no
// escapes, but any string is written correctly.
func jsonString(dst []byte, key, s string) []byte {
	dst = append(append(dst, key...), '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// WriteJSON writes events [first, end) of cfg to w, one AppendJSON line per
// event, in event-number order: the input another engine reads to see
// exactly the events loom's source generates.
func WriteJSON(w io.Writer, cfg Config, first, end int64) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if first < 0 || end < first {
		return fmt.Errorf("nexmark: events [%d, %d): not a range of event numbers", first, end)
	}
	g := NewGenerator(cfg)
	bw := bufio.NewWriterSize(w, 1<<20)
	var line []byte
	for n := first; n < end; n++ {
		line = append(AppendJSON(line[:0], g.Event(n)), '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("nexmark: write event %d: %w", n, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("nexmark: write events: %w", err)
	}
	return nil
}
