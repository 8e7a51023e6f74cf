package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"

	"github.com/droverhq/drover/backend"
)

// bbolt trusts its file: it maps it into memory and follows page numbers
// and offsets without checking them, and when a page is not what it
// expects it panics, at Open in a goroutine of its own that no caller can
// recover. checkFile reads the file with ReadAt and checks, before bbolt
// maps it, everything bbolt relies on when it opens a file and when it
// reads or writes the trees: the meta page it will choose, that every
// page in use lies inside the file and is the page its parent names,
// that every element lies inside its page, that no page is used twice,
// that keys are in the order bbolt's own consistency check demands, and
// that the trees have the shape bbolt's writes rely on (see subtree).

// The parts of bbolt's file format (version 2) that the check reads. bbolt
// writes numbers in the byte order of the machine.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize   = 16 // page id u64, flags u16, element count u16, overflow u32
	elementSize      = 16 // branch: pos u32, key size u32, child page u64; leaf: flags u32, pos u32, key size u32, value size u32
	bucketHeaderSize = 16 // root page u64 (0 for an inline bucket), sequence u64
	boltMetaSize     = 64 // magic, version, page size, flags, root bucket (16), freelist, high-water mark, txid, checksum
	metaChecksummed  = 56 // the meta bytes the checksum covers

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	leafBucket   = 0x01 // leaf element flag: the value is a bucket

	noFreelist  = ^uint64(0) // the meta's freelist page when the freelist is not written
	maxKeySize  = 32768      // bbolt refuses longer keys
	minPageSize = 1 << 10    // bbolt looks for the second meta page at 1 KiB to 16 MiB
	maxPageSize = 1 << 24

	// maxDepth bounds the nesting of the walk: the pages from the root
	// page to any page, through the trees of the enclosing buckets. A
	// drover file has three levels of buckets, each a B+tree a few pages
	// deep; the bound keeps a damaged file from recursing without end.
	maxDepth = 64

	// pageReadLimit is how much of a page with overflow pages is read at
	// once; elements beyond it are read one by one, so a damaged overflow
	// count cannot make the check allocate the whole file.
	pageReadLimit = 1 << 20
)

// native is the byte order bbolt writes numbers in: the machine's.
var native = binary.NativeEndian

// damage reports a damaged file; the error matches backend.ErrCorrupt.
func damage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", backend.ErrCorrupt, fmt.Sprintf(format, args...))
}

// A keyRule checks a key of a bucket and its value; bucket says whether
// the value is a bucket, which is walked after the call. A value larger
// than a page may be nil: it is read only when it lies in the part of its
// page read already. The slices are valid only during the call.
type keyRule func(key, value []byte, bucket bool) error

// A layoutFunc returns the rule for the keys of the bucket at path (the
// keys of the buckets that enclose it, the top-level one first; none for
// the top level), or nil when there is none.
type layoutFunc func(path [][]byte) keyRule

// fileReport says what checkFile found besides damage.
type fileReport struct {
	// passedOver is the meta page (0 or 1) that failed bbolt's validation
	// (magic, version, checksum) and that bbolt will pass over for the
	// other, or -1 when both are sound.
	passedOver int
}

// checkFile checks a bbolt file of the given size. It returns an error
// matching backend.ErrCorrupt when the file is damaged, or the read error
// when reading it failed.
func checkFile(r io.ReaderAt, size int64, layout layoutFunc) (fileReport, error) {
	rep := fileReport{passedOver: -1}
	if size == 0 {
		return rep, damage("the file is empty")
	}
	pageSize, err := discoverPageSize(r, size)
	if err != nil {
		return rep, err
	}
	if pageSize < minPageSize || pageSize > maxPageSize || bits.OnesCount32(pageSize) != 1 {
		return rep, damage("page size %d is not a power of two from %d to %d", pageSize, minPageSize, maxPageSize)
	}
	if size < 2*int64(pageSize) {
		return rep, damage("the file is %d bytes, shorter than its two meta pages", size)
	}
	m, passedOver, err := chooseMeta(r, pageSize)
	if err != nil {
		return rep, err
	}
	rep.passedOver = passedOver
	switch {
	case m.pageSize != pageSize:
		return rep, damage("meta page gives page size %d, the file has %d", m.pageSize, pageSize)
	case m.hwm > uint64(size)/uint64(pageSize):
		return rep, damage("the file is %d bytes but its pages in use end at byte %d (truncated?)", size, m.hwm*uint64(pageSize))
	case m.root < 2 || m.root >= m.hwm:
		return rep, damage("root page %d is outside the pages in use (2 to %d)", m.root, m.hwm-1)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		return rep, damage("freelist page %d is outside the pages in use (2 to %d)", m.freelist, m.hwm-1)
	}
	c := &fileCheck{
		r:        r,
		pageSize: uint64(pageSize),
		hwm:      m.hwm,
		used:     make([]uint64, (m.hwm+63)/64),
		layout:   layout,
	}
	c.used[0] |= 0b11 // the meta pages
	if err := c.tree(m.root, 0); err != nil {
		return rep, err
	}
	if m.freelist != noFreelist {
		if err := c.freelist(m.freelist); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// boltMeta is the decoded content of a meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64 // root page of the top-level bucket
	freelist uint64 // page of the freelist, or noFreelist
	hwm      uint64 // the first page number not in use
	txid     uint64
}

// decodeBoltMeta decodes the meta page at the start of p (which holds at
// least a page header and a meta), and validates it as bbolt does. The
// fields are set even when it is not valid.
func decodeBoltMeta(p []byte) (boltMeta, error) {
	b := p[pageHeaderSize : pageHeaderSize+boltMetaSize]
	m := boltMeta{
		pageSize: native.Uint32(b[8:]),
		root:     native.Uint64(b[16:]),
		freelist: native.Uint64(b[32:]),
		hwm:      native.Uint64(b[40:]),
		txid:     native.Uint64(b[48:]),
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksummed])
	switch {
	case native.Uint32(b[0:]) != boltMagic:
		return m, errors.New("not a bbolt meta page")
	case native.Uint32(b[4:]) != boltVersion:
		return m, fmt.Errorf("bbolt format version %d, want %d", native.Uint32(b[4:]), boltVersion)
	case h.Sum64() != native.Uint64(b[metaChecksummed:]):
		return m, errors.New("checksum mismatch")
	}
	return m, nil
}

// discoverPageSize finds the page size the way bbolt does: from the first
// meta page, or else from the second one looked for at each size bbolt
// tries.
func discoverPageSize(r io.ReaderAt, size int64) (uint32, error) {
	var buf [4096]byte
	if n, _ := r.ReadAt(buf[:], 0); n == len(buf) {
		if m, err := decodeBoltMeta(buf[:]); err == nil {
			return m.pageSize, nil
		}
	}
	for i := range 15 {
		pos := int64(1024) << i
		if pos >= size-1024 {
			break
		}
		clear(buf[:])
		n, err := r.ReadAt(buf[:], pos)
		if n == len(buf) || (errors.Is(err, io.EOF) && int64(n) == size-pos) {
			if m, err := decodeBoltMeta(buf[:]); err == nil {
				return m.pageSize, nil
			}
		}
	}
	return 0, damage("no valid meta page (not a store file, or both meta pages overwritten)")
}

// chooseMeta reads the two meta pages and picks the one bbolt will use:
// the one with the higher transaction ID if it is valid, else the other.
// It also returns the meta page passed over as damaged, or -1.
func chooseMeta(r io.ReaderAt, pageSize uint32) (boltMeta, int, error) {
	var metas [2]boltMeta
	var errs [2]error
	buf := make([]byte, pageHeaderSize+boltMetaSize)
	for i := range metas {
		if _, err := r.ReadAt(buf, int64(i)*int64(pageSize)); err != nil {
			return boltMeta{}, -1, fmt.Errorf("read meta page %d: %w", i, err)
		}
		metas[i], errs[i] = decodeBoltMeta(buf)
	}
	first := 0
	if metas[1].txid > metas[0].txid {
		first = 1
	}
	second := 1 - first
	switch {
	case errs[first] == nil && errs[second] == nil:
		return metas[first], -1, nil
	case errs[first] == nil:
		return metas[first], second, nil
	case errs[second] == nil:
		return metas[second], first, nil
	}
	return boltMeta{}, -1, damage("both meta pages are invalid (page 0: %v; page 1: %v)", errs[0], errs[1])
}

// fileCheck walks the pages of one file.
type fileCheck struct {
	r        io.ReaderAt
	pageSize uint64
	hwm      uint64
	used     []uint64 // a bit for each page in use: meta, tree or freelist
	bufs     [][]byte // a page buffer for each depth of the walk
	path     [][]byte // keys of the buckets enclosing the one walked
	layout   layoutFunc
}

// use marks pages first to last as in use; a page in use already means
// that two parents share it (or that a parent is its own descendant).
func (c *fileCheck) use(first, last uint64) error {
	for id := first; id <= last; id++ {
		w, bit := id/64, uint64(1)<<(id%64)
		if c.used[w]&bit != 0 {
			return damage("page %d is used twice", id)
		}
		c.used[w] |= bit
	}
	return nil
}

// page is a page being checked: its first bytes, and what it spans.
type page struct {
	id    uint64
	flags uint16
	count int
	span  uint64 // bytes, overflow pages included
	data  []byte // the first min(span, pageReadLimit) bytes at least
	// end is where the data of the next element must start: bbolt lays
	// out keys and values in element order, right after the table.
	end uint64
}

// readPage reads and checks the header of page id, which a parent names,
// marks it in use, and reads its element table.
func (c *fileCheck) readPage(id uint64, depth int) (*page, error) {
	if id < 2 || id >= c.hwm {
		return nil, damage("page %d is outside the pages in use (2 to %d)", id, c.hwm-1)
	}
	buf := c.buffer(depth, c.pageSize)
	if err := c.read(buf, id*c.pageSize); err != nil {
		return nil, err
	}
	p := &page{
		id:    id,
		flags: native.Uint16(buf[8:]),
		count: int(native.Uint16(buf[10:])),
	}
	overflow := uint64(native.Uint32(buf[12:]))
	switch {
	case native.Uint64(buf) != id:
		return nil, damage("page %d has the header of page %d", id, native.Uint64(buf))
	case overflow >= c.hwm-id:
		return nil, damage("page %d runs %d pages past the pages in use", id, id+overflow-c.hwm+1)
	}
	if err := c.use(id, id+overflow); err != nil {
		return nil, err
	}
	p.span = (overflow + 1) * c.pageSize
	p.data = buf
	if overflow > 0 {
		n := min(p.span, max(c.pageSize, pageReadLimit))
		p.data = c.buffer(depth, n)
		if err := c.read(p.data[c.pageSize:], (id+1)*c.pageSize); err != nil {
			return nil, err
		}
	}
	p.end = uint64(pageHeaderSize + elementSize*p.count)
	if p.end > p.span {
		return nil, damage("page %d: %d elements do not fit in it", id, p.count)
	}
	return p, nil
}

// buffer returns the buffer of a depth of the walk, n bytes long, keeping
// what it held.
func (c *fileCheck) buffer(depth int, n uint64) []byte {
	for len(c.bufs) <= depth {
		c.bufs = append(c.bufs, nil)
	}
	if uint64(cap(c.bufs[depth])) < n {
		b := make([]byte, n)
		copy(b, c.bufs[depth])
		c.bufs[depth] = b
	}
	return c.bufs[depth][:n]
}

func (c *fileCheck) read(buf []byte, off uint64) error {
	if _, err := c.r.ReadAt(buf, int64(off)); err != nil {
		return fmt.Errorf("read at byte %d: %w", off, err)
	}
	return nil
}

// slice returns n bytes at offset off of p, which the caller has checked
// lie inside it.
func (c *fileCheck) slice(p *page, off, n uint64) ([]byte, error) {
	if off+n <= uint64(len(p.data)) {
		return p.data[off : off+n], nil
	}
	b := make([]byte, n)
	return b, c.read(b, p.id*c.pageSize+off)
}

// element is one decoded element of a branch or leaf page.
type element struct {
	key, value []byte
	child      uint64 // branch: the child page
	flags      uint32 // leaf: element flags
}

// element decodes element i of p, checking that its key (and value)
// follow the data of element i-1 (or the element table) and lie inside
// the page. Elements are decoded in order. A leaf's value is read when it
// is no larger than a page or lies in the part of the page read already.
func (c *fileCheck) element(p *page, i int) (element, error) {
	at := uint64(pageHeaderSize + elementSize*i)
	e := p.data[at : at+elementSize]
	var el element
	var pos, ksize, vsize uint64
	if p.flags == flagBranch {
		pos, ksize = uint64(native.Uint32(e)), uint64(native.Uint32(e[4:]))
		el.child = native.Uint64(e[8:])
	} else {
		el.flags = native.Uint32(e)
		pos, ksize, vsize = uint64(native.Uint32(e[4:])), uint64(native.Uint32(e[8:])), uint64(native.Uint32(e[12:]))
	}
	start := at + pos
	switch {
	case ksize == 0 || ksize > maxKeySize:
		return el, damage("page %d, element %d: key of %d bytes", p.id, i, ksize)
	case start != p.end:
		return el, damage("page %d, element %d: data at byte %d, not at %d where the data before it ends", p.id, i, start, p.end)
	case start+ksize+vsize > p.span:
		return el, damage("page %d, element %d: data at bytes %d to %d, outside the page", p.id, i, start, start+ksize+vsize)
	case el.flags&^leafBucket != 0:
		return el, damage("page %d, element %d: unknown flags %#x", p.id, i, el.flags)
	case el.flags&leafBucket != 0 && vsize > bucketHeaderSize+c.pageSize:
		return el, damage("page %d, element %d: bucket of %d bytes", p.id, i, vsize)
	}
	p.end = start + ksize + vsize
	var err error
	if el.key, err = c.slice(p, start, ksize); err != nil {
		return el, err
	}
	if v := start + ksize; v+vsize <= uint64(len(p.data)) || vsize <= c.pageSize {
		el.value, err = c.slice(p, v, vsize)
	}
	return el, err
}

// tree checks the B+tree of the bucket at c.path, rooted at page root.
func (c *fileCheck) tree(root uint64, depth int) error {
	_, _, err := c.subtree(root, nil, nil, c.rule(), depth)
	return err
}

// rule returns the rule for the keys of the bucket at c.path.
func (c *fileCheck) rule() keyRule {
	if c.layout == nil {
		return nil
	}
	return c.layout(c.path)
}

// subtree checks page id and the pages below it, whose keys must lie in
// [lo, hi) (nil for no bound), and returns the largest key found and the
// height of the tree below (0 for a leaf page). The order rules are those
// of bbolt's Tx.Check, which bbolt runs when it opens a file. Three more
// are what bbolt's writes rely on and always leave true: the key a branch
// element has for a child is the child's first key (bbolt finds the
// element by it when the child changes; when it does not match, the old
// element stays, naming a page that was freed); a branch page has two
// elements at least (its rebalancing asserts so); and all the leaves of a
// tree are equally deep (it merges only siblings, which must be alike).
func (c *fileCheck) subtree(id uint64, lo, hi []byte, rule keyRule, depth int) ([]byte, int, error) {
	if depth >= maxDepth {
		return nil, 0, damage("page %d: pages nested more than %d deep", id, maxDepth)
	}
	p, err := c.readPage(id, depth)
	if err != nil {
		return nil, 0, err
	}
	switch p.flags {
	case flagLeaf:
		last, err := c.leaf(p, lo, hi, rule, depth, false)
		return last, 0, err
	case flagBranch:
	default:
		return nil, 0, damage("page %d: flags %#x, not a branch or leaf page", id, p.flags)
	}
	if p.count < 2 {
		return nil, 0, damage("page %d: branch page with %d elements", id, p.count)
	}
	next, err := c.element(p, 0)
	if err != nil {
		return nil, 0, err
	}
	prev, height := lo, -1
	for i := range p.count {
		el := next
		if err := c.inOrder(p, i, el.key, prev, hi); err != nil {
			return nil, 0, err
		}
		bound := hi
		if i+1 < p.count {
			if next, err = c.element(p, i+1); err != nil {
				return nil, 0, err
			}
			bound = next.key
		}
		var h int
		if prev, h, err = c.subtree(el.child, el.key, bound, rule, depth+1); err != nil {
			return nil, 0, err
		}
		if height >= 0 && h != height {
			return nil, 0, damage("page %d: the trees below its elements are not equally deep", id)
		}
		height = h
	}
	return prev, height + 1, nil
}

// inOrder checks key i of page p, given the key before it (for the first
// key, the key its parent has for p) and the bound above.
func (c *fileCheck) inOrder(p *page, i int, key, prev, hi []byte) error {
	switch {
	case i == 0 && prev != nil && !bytes.Equal(prev, key):
		return damage("page %d: its first key is not the key its parent has for it", p.id)
	case i > 0 && bytes.Compare(prev, key) >= 0, hi != nil && bytes.Compare(key, hi) >= 0:
		return damage("page %d, element %d: key out of order", p.id, i)
	}
	return nil
}

// leaf checks the elements of a leaf page, or of an inline bucket's page
// (which holds no buckets), and the buckets they hold, and returns its
// last key.
func (c *fileCheck) leaf(p *page, lo, hi []byte, rule keyRule, depth int, inline bool) ([]byte, error) {
	if p.count == 0 && lo != nil {
		return nil, damage("page %d: an empty leaf page below a branch page", p.id)
	}
	prev := lo
	for i := range p.count {
		el, err := c.element(p, i)
		if err != nil {
			return nil, err
		}
		if err := c.inOrder(p, i, el.key, prev, hi); err != nil {
			return nil, err
		}
		prev = el.key
		isBucket := el.flags&leafBucket != 0
		if isBucket && inline {
			return nil, damage("page %d: an inline bucket holds bucket %q", p.id, el.key)
		}
		if rule != nil {
			if err := rule(el.key, el.value, isBucket); err != nil {
				return nil, err
			}
		}
		if isBucket {
			if err := c.bucket(p.id, el.key, el.value, depth+1); err != nil {
				return nil, err
			}
		}
	}
	if p.count == 0 {
		return nil, nil
	}
	return prev, nil
}

// bucket checks the bucket stored as value v under key k on page parent.
func (c *fileCheck) bucket(parent uint64, k, v []byte, depth int) error {
	if len(v) < bucketHeaderSize {
		return damage("page %d: bucket %q has a header of %d bytes", parent, k, len(v))
	}
	c.path = append(c.path, k)
	defer func() { c.path = c.path[:len(c.path)-1] }()
	if root := native.Uint64(v); root != 0 {
		if len(v) != bucketHeaderSize {
			return damage("page %d: bucket %q has a header of %d bytes", parent, k, len(v))
		}
		return c.tree(root, depth)
	}
	// An inline bucket: a leaf page inside the value, without sub-buckets.
	in := v[bucketHeaderSize:]
	if len(in) < pageHeaderSize || uint64(len(in)) > c.pageSize {
		return damage("page %d: inline bucket %q of %d bytes", parent, k, len(in))
	}
	p := &page{id: parent, flags: native.Uint16(in[8:]), count: int(native.Uint16(in[10:])), span: uint64(len(in)), data: in}
	p.end = uint64(pageHeaderSize + elementSize*p.count)
	if p.flags != flagLeaf || p.end > p.span {
		return damage("page %d: inline bucket %q is not a leaf page", parent, k)
	}
	_, err := c.leaf(p, nil, nil, c.rule(), depth, true)
	return err
}

// freelist checks the freelist page that a meta names: every page it
// lists is inside the pages in use and used by nothing else.
func (c *fileCheck) freelist(id uint64) error {
	buf := make([]byte, c.pageSize)
	if err := c.read(buf, id*c.pageSize); err != nil {
		return err
	}
	overflow := uint64(native.Uint32(buf[12:]))
	switch {
	case native.Uint64(buf) != id:
		return damage("freelist page %d has the header of page %d", id, native.Uint64(buf))
	case native.Uint16(buf[8:]) != flagFreelist:
		return damage("freelist page %d: flags %#x", id, native.Uint16(buf[8:]))
	case overflow >= c.hwm-id:
		return damage("freelist page %d runs past the pages in use", id)
	}
	if err := c.use(id, id+overflow); err != nil {
		return err
	}
	first, count := uint64(0), uint64(native.Uint16(buf[10:]))
	if count == 0xFFFF { // the count is too large for the header: it is the first entry
		first, count = 1, native.Uint64(buf[pageHeaderSize:])
	}
	if count > c.hwm || pageHeaderSize+(first+count)*8 > (overflow+1)*c.pageSize {
		return damage("freelist page %d: %d entries do not fit in it", id, count)
	}
	ids := make([]byte, (first+count)*8)
	if err := c.read(ids, id*c.pageSize+pageHeaderSize); err != nil {
		return err
	}
	for i := first; i < first+count; i++ {
		free := native.Uint64(ids[i*8:])
		if free < 2 || free >= c.hwm {
			return damage("freelist page %d lists page %d, outside the pages in use", id, free)
		}
		if err := c.use(free, free); err != nil {
			return damage("freelist page %d lists page %d, which is in use", id, free)
		}
	}
	return nil
}
