package bolt

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openDB opens the bbolt file of a store. An existing file is checked
// first: bbolt maps the file and, because drover does not write bbolt's
// freelist, walks every page of it at Open in a goroutine of its own, and
// it panics there when a page is not what it expects. checkFile reads the
// file without mapping it, so that bbolt only ever sees a sound one.
func openDB(path string, o *Options) (*bbolt.DB, error) {
	exists, err := checkPath(path, o.NoCreate)
	if err != nil {
		return nil, err
	}
	if exists {
		rep, err := checkExisting(path, o.LockTimeout)
		if err != nil {
			return nil, translate(err)
		}
		if rep.passedOver >= 0 {
			o.Logger.Warn("drover: bolt: one of the file's two meta pages is damaged, as a crash during a commit leaves it; "+
				"the store opens as of the commit the other one records", "path", path, "page", rep.passedOver)
		}
	}
	db, err := openBolt(path, o)
	return db, translate(err)
}

// checkPath says whether a store file exists at path, and rejects a path
// that cannot hold one.
func checkPath(path string, noCreate bool) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return false, backend.Invalid("path", "a directory, not a store file")
	case err == nil && !fi.Mode().IsRegular():
		return false, backend.Invalid("path", "not a regular file")
	case err == nil:
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, pathError(err.Error(), err)
	case noCreate:
		return false, pathError("no store file there (none was created)", err)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return false, pathError("directory "+dir+" does not exist; create it first", err)
	}
	return false, nil
}

func pathError(reason string, cause error) error {
	return &backend.ValidationError{Index: -1, Field: "path", Reason: reason, Err: cause}
}

// checkExisting checks the file at path with checkFile and the layout of
// drover's buckets. It holds a shared lock meanwhile, so that no other
// process writes the file under the check: bbolt opened read-only takes
// the lock and reads no more than the meta pages.
func checkExisting(path string, lockTimeout time.Duration) (fileReport, error) {
	ro, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return fileReport{}, err
	}
	if err == nil {
		defer ro.Close()
	}
	// A read-only open that failed otherwise (an empty or short file, no
	// valid meta page) has left no lock to wait for; the check says what
	// is wrong.
	f, err := os.Open(path)
	if err != nil {
		return fileReport{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileReport{}, err
	}
	layout := newLayoutCheck()
	rep, err := checkFile(f, fi.Size(), layout.rule)
	if err == nil {
		err = layout.done()
	}
	return rep, err
}

// openBolt opens the checked file with bbolt for reading and writing. A
// panic that reaches this goroutine all the same (the file changed since
// the check) becomes an error, and the file is closed so that its lock
// goes with it.
func openBolt(path string, o *Options) (db *bbolt.DB, err error) {
	var file *os.File
	defer func() {
		if p := recover(); p != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, damage("bbolt: %v", p)
		}
	}()
	return bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        o.LockTimeout,
		NoSync:         o.NoSync,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm fs.FileMode) (*os.File, error) {
			if o.NoCreate {
				flag &^= os.O_CREATE
			}
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
}
