package xmlr

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// CharsetReader is the xml.Decoder CharsetReader of a Reader. It accepts
// the encodings phones declare besides UTF-8: US-ASCII (and the spelling
// utf8) as is, ISO-8859-1 converted. Any other label is an error.
func CharsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii", "utf8":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return Latin1(in), nil
	}
	return nil, fmt.Errorf("encoding %q not supported", label)
}

// Latin1 returns a reader converting ISO-8859-1 from in to UTF-8, a
// buffer at a time.
func Latin1(in io.Reader) io.Reader {
	return &latin1Reader{r: in}
}

type latin1Reader struct {
	r   io.Reader
	buf [256]byte
	out []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.out) == 0 {
		n, err := l.r.Read(l.buf[:])
		if n == 0 {
			return 0, err
		}
		for _, b := range l.buf[:n] {
			l.out = utf8.AppendRune(l.out, rune(b))
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}
