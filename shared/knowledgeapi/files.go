package knowledgeapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/extract"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/tenant"
)

// fileJSON is OpenAI's File object.
type fileJSON struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	ExpiresAt     *int64  `json:"expires_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"` // deprecated by OpenAI, still sent: always "processed"
	StatusDetails *string `json:"status_details"`
}

func fileOf(f knowledge.File) fileJSON {
	return fileJSON{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(), Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
}

// uploadFile serves POST /v1/files: a multipart form with file and purpose.
func (d *Deps) uploadFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return apierr.New(apierr.Invalid, "invalid_content_type", "POST /v1/files takes a multipart/form-data body with the fields file and purpose")
	}
	limit := d.Service.MaxFileBytes
	if r.ContentLength > d.MaxUpload {
		return tooLarge(limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, d.MaxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return apierr.New(apierr.Invalid, "invalid_body", "the multipart body cannot be read: "+err.Error())
	}
	var (
		purpose, filename, ctype string
		data                     []byte
		haveFile                 bool
	)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		if err != nil {
			return apierr.New(apierr.Invalid, "invalid_body", "the multipart body cannot be read: "+err.Error())
		}
		switch p.FormName() {
		case "purpose":
			b, err := io.ReadAll(io.LimitReader(p, 64))
			if err != nil {
				return apierr.New(apierr.Invalid, "invalid_body", "the purpose field cannot be read")
			}
			purpose = strings.TrimSpace(string(b))
		case "file":
			if haveFile {
				return apierr.InvalidParam("invalid_value", "file", "give one file per upload")
			}
			haveFile = true
			filename, ctype = path.Base(strings.ReplaceAll(p.FileName(), "\\", "/")), p.Header.Get("Content-Type")
			data, err = io.ReadAll(io.LimitReader(p, limit+1))
			if errors.As(err, &mbe) || int64(len(data)) > limit {
				return tooLarge(limit)
			}
			if err != nil {
				return apierr.New(apierr.Invalid, "invalid_body", "the file cannot be read: "+err.Error())
			}
		default:
			if _, err := io.Copy(io.Discard, io.LimitReader(p, 1<<20)); err != nil {
				return apierr.New(apierr.Invalid, "invalid_body", "the multipart body cannot be read")
			}
		}
	}
	switch {
	case purpose == "":
		return apierr.InvalidParam("missing_required_parameter", "purpose", "purpose is required: assistants or user_data")
	case !slices.Contains(knowledge.Purposes, purpose):
		return apierr.InvalidParam("invalid_value", "purpose", fmt.Sprintf("purpose must be assistants or user_data, not %q", clip(purpose)))
	case !haveFile:
		return apierr.InvalidParam("missing_required_parameter", "file", "file is required")
	case filename == "" || filename == "." || filename == "/" || len(filename) > 255 || !utf8.ValidString(filename):
		return apierr.InvalidParam("invalid_value", "file", "the file needs a filename of 1 to 255 characters")
	case len(data) == 0:
		return apierr.InvalidParam("empty_file", "file", "the file is empty")
	case !extract.Supported(filename, ctype):
		return apierr.InvalidParam("unsupported_file", "file", fmt.Sprintf("%s: unsupported file type; supported: %s", clip(filename), strings.Join(extract.Extensions, ", ")))
	}
	f, err := d.Service.Upload(r.Context(), cfg, knowledge.File{Filename: filename, Purpose: purpose, ContentType: ctype}, data)
	if err != nil {
		return err
	}
	return writeJSON(w, fileOf(f))
}

func tooLarge(limit int64) *apierr.Error {
	return &apierr.Error{Kind: apierr.TooLarge, Code: "file_too_large", Param: "file",
		Message: fmt.Sprintf("the file is larger than this deployment's limit of %d bytes (FILE_MAX_BYTES)", limit)}
}

// listFiles serves GET /v1/files: purpose, limit (1–10000), order, after.
func (d *Deps) listFiles(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	p, err := parsePage(r, 10000, 10000)
	if err != nil {
		return err
	}
	purpose := r.URL.Query().Get("purpose")
	files, err := d.Service.Store.ListFiles(r.Context(), cfg.Scope())
	if err != nil {
		return err
	}
	out := make([]fileJSON, 0, len(files))
	for _, f := range files {
		if purpose == "" || f.Purpose == purpose {
			out = append(out, fileOf(f))
		}
	}
	return writeJSON(w, page(out, func(f fileJSON) string { return f.ID }, p))
}

func (d *Deps) file(r *http.Request, cfg *tenant.Config) (knowledge.File, error) {
	id := r.PathValue("id")
	if err := fileIDParam(id, ""); err != nil {
		return knowledge.File{}, err
	}
	f, err := d.Service.Store.GetFile(r.Context(), cfg.Scope(), id)
	return f, knowledge.Missing(err, "file", id)
}

func (d *Deps) getFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	f, err := d.file(r, cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, fileOf(f))
}

// fileContent serves GET /v1/files/{id}/content: the bytes as uploaded.
func (d *Deps) fileContent(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	f, err := d.file(r, cfg)
	if err != nil {
		return err
	}
	_, data, err := d.Service.Content(r.Context(), cfg, f.ID)
	if err != nil {
		return knowledge.Missing(err, "file", f.ID)
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Filename}))
	_, _ = w.Write(data)
	return nil
}

type deleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// deleteFile serves DELETE /v1/files/{id}: the file, and its chunks in every
// vector store.
func (d *Deps) deleteFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	f, err := d.file(r, cfg)
	if err != nil {
		return err
	}
	if err := d.Service.DeleteFile(r.Context(), cfg, f.ID); err != nil {
		return knowledge.Missing(err, "file", f.ID)
	}
	return writeJSON(w, deleted{ID: f.ID, Object: "file", Deleted: true})
}
