// Package tokens counts and estimates tokens.
//
// Three counts with different promises:
//   - Bound never undercounts for the byte-level BPE tokenizers of the providers
//     Tollgate supports (OpenAI's, and Anthropic's, Meta's and Amazon's models on
//     Bedrock): every token covers at least one byte of UTF-8 text, so the byte count
//     is an upper bound. Budget reservations use it, so no admitted request can push
//     usage past a limit. It walks every part of every message (text, tool calls
//     and results, reasoning, images) and the tool definitions.
//   - Estimate is a realistic count (about four bytes a token) for charging text
//     that a provider streamed without reporting usage.
//   - With a Counter (OpenAI's public tokenizers, for OpenAI's models), the text
//     of the messages is counted exactly, so reservations are no longer about
//     four times the prompt; the rest of the request (tool definitions, tool
//     calls, images) keeps its bound.
//
// Images are not text: ImageBound is an upper bound from the image's pixel size,
// after the published formulas of Anthropic (width × height / 750) and OpenAI
// (85 + 170 per 512-pixel tile at high detail), whichever is larger.
package tokens

import "github.com/tollgate/tollgate/shared/chat"

// Per-message framing the chat templates add (role markers, separators). OpenAI
// documents 3 per message plus 3 for the reply's priming; Bedrock's templates add
// fewer. These are upper bounds for both. A part other than text (a tool call or
// result, an image) gets perPart more for its own markers, and each tool
// definition perTool.
const (
	perMessage = 4
	perPrompt  = 3
	perPart    = 8
	perTool    = 16
)

// Bound returns an upper bound of the tokens of text.
func Bound(text string) int { return len(text) }

// PromptBound returns an upper bound of the input tokens of msgs.
func PromptBound(msgs []chat.Message) int { return promptBound(msgs, nil) }

func promptBound(msgs []chat.Message, c *Counter) int {
	n := perPrompt
	for i := range msgs {
		n += perMessage + len(msgs[i].Name) + partsBound(msgs[i].Parts, c)
	}
	return n
}

// RequestBound returns an upper bound of the input tokens of req: its messages,
// its tool definitions and its response schema, which providers send to the model
// as part of the prompt.
func RequestBound(req *chat.Request) int { return RequestBoundWith(req, nil) }

// RequestBoundWith is RequestBound with the messages' text counted by c (nil:
// bytes): exact for the model c belongs to. Past MaxExactBytes of text, bytes.
func RequestBoundWith(req *chat.Request, c *Counter) int {
	if c != nil && textBytes(req.Messages) > MaxExactBytes {
		c = nil
	}
	n := promptBound(req.Messages, c)
	for i := range req.Tools {
		t := &req.Tools[i]
		n += perTool + len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	if f := &req.ResponseFormat; f.Type != chat.FormatText {
		n += perTool + len(f.Name) + len(f.Description) + len(f.Schema)
	}
	return n
}

// RequestEstimateWith is the tokens-per-minute estimate of req: its exact
// count with a Counter, else RequestEstimate.
func RequestEstimateWith(req *chat.Request, c *Counter) int {
	if c == nil || textBytes(req.Messages) > MaxExactBytes {
		return RequestEstimate(req)
	}
	return RequestBoundWith(req, c)
}

// textBytes is the bytes of the messages' text parts (tool results' included).
func textBytes(msgs []chat.Message) int {
	n := 0
	for i := range msgs {
		n += partsTextBytes(msgs[i].Parts)
	}
	return n
}

func partsTextBytes(parts []chat.Part) int {
	n := 0
	for i := range parts {
		switch p := &parts[i]; p.Kind {
		case chat.PartText:
			n += len(p.Text)
		case chat.PartToolResult:
			if p.ToolResult != nil {
				n += partsTextBytes(p.ToolResult.Parts)
			}
		}
	}
	return n
}

// partsBound bounds parts, their text counted by c. Each text part after the
// first gets perPart more: a tokenizer may split a joined text otherwise than
// its pieces.
func partsBound(parts []chat.Part, c *Counter) int {
	n, texts := 0, 0
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case chat.PartText:
			if texts++; texts > 1 && c != nil {
				n += perPart
			}
			n += c.Count(p.Text)
		case chat.PartReasoning:
			n += perPart + len(p.Text) + len(p.Redacted)
		case chat.PartToolCall:
			if c := p.ToolCall; c != nil {
				n += perPart + len(c.ID) + len(c.Name) + len(c.Arguments)
			}
		case chat.PartToolResult:
			if r := p.ToolResult; r != nil {
				n += perPart + len(r.CallID) + partsBound(r.Parts, c)
			}
		case chat.PartImage:
			n += perPart + imageBound(p.Image)
		}
	}
	return n
}

// URLImageBound bounds an image given by URL, whose size Tollgate does not know:
// OpenAI's largest high-detail image (2048 × 768 pixels, 8 tiles). Only
// providers that fetch URLs themselves (OpenAI-compatible ones) receive them.
const URLImageBound = 85 + 170*8

func imageBound(img *chat.Image) int {
	if img == nil {
		return 0
	}
	if img.Width <= 0 || img.Height <= 0 {
		return URLImageBound
	}
	return ImageBound(img.Width, img.Height)
}

// ImageBound returns an upper bound of the input tokens of a w × h image.
func ImageBound(w, h int) int {
	anthropic := (w*h + 749) / 750
	return max(anthropic, openAITiles(w, h))
}

// openAITiles is OpenAI's high-detail cost: the image is scaled to fit 2048 × 2048,
// then its shorter side to 768, and each 512-pixel tile costs 170 plus 85 in all.
func openAITiles(w, h int) int {
	fw, fh := float64(w), float64(h)
	if s := 2048 / max(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	if s := 768 / min(fw, fh); s < 1 {
		fw, fh = fw*s, fh*s
	}
	tiles := ceilDiv(fw, 512) * ceilDiv(fh, 512)
	return 85 + 170*tiles
}

func ceilDiv(v, d float64) int {
	n := int(v / d)
	if float64(n)*d < v {
		n++
	}
	return n
}

// PartsBytes returns the bytes of text in parts: text, reasoning, tool calls.
func PartsBytes(parts []chat.Part) int {
	n := 0
	for i := range parts {
		p := &parts[i]
		n += len(p.Text)
		if p.ToolCall != nil {
			n += len(p.ToolCall.Name) + len(p.ToolCall.Arguments)
		}
	}
	return n
}

// Estimate returns a realistic estimate of the tokens of text: one per four bytes,
// rounded up, and at least one for non-empty text.
func Estimate(text string) int { return (len(text) + 3) / 4 }

// PromptEstimate is Estimate for a prompt, with the same framing as PromptBound.
// Images count their bound.
func PromptEstimate(msgs []chat.Message) int {
	n := perPrompt
	for i := range msgs {
		n += perMessage + partsEstimate(msgs[i].Parts)
	}
	return n
}

// RequestEstimate is Estimate for a request: messages, tools and response schema.
func RequestEstimate(req *chat.Request) int {
	n := PromptEstimate(req.Messages)
	for i := range req.Tools {
		t := &req.Tools[i]
		n += perTool + Estimate(t.Name) + Estimate(t.Description) + Estimate(string(t.Parameters))
	}
	if f := &req.ResponseFormat; f.Type != chat.FormatText {
		n += perTool + Estimate(f.Name) + Estimate(string(f.Schema))
	}
	return n
}

func partsEstimate(parts []chat.Part) int {
	n := 0
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case chat.PartText:
			n += Estimate(p.Text)
		case chat.PartReasoning:
			n += perPart + Estimate(p.Text)
		case chat.PartToolCall:
			if c := p.ToolCall; c != nil {
				n += perPart + Estimate(c.Name) + Estimate(c.Arguments)
			}
		case chat.PartToolResult:
			if r := p.ToolResult; r != nil {
				n += perPart + partsEstimate(r.Parts)
			}
		case chat.PartImage:
			n += perPart + imageBound(p.Image)
		}
	}
	return n
}
