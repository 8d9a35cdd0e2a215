package bedrock

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/tollgate/tollgate/shared/chat"
)

// Limits of a Converse message's images, from the Bedrock API reference
// (API_runtime_Message: "You can include up to 20 images. Each image's size,
// height, and width must be no more than 3.75 MB, 8000 px, and 8000 px,
// respectively. ... You can only include images and documents if the role is
// user"; API_runtime_ImageBlock: formats png, jpeg, gif, webp, sent as bytes).
const (
	MaxImagesPerMessage = 20
	// MaxImageBytes is 3.75 MB of decoded image: 3.75 MiB, the raw size whose
	// base64 is Anthropic's 5 MiB.
	MaxImageBytes  = 3_932_160
	MaxImagePixels = 8000 // width and height each
)

// Limits of Converse's requestMetadata, the key-value pairs Bedrock writes to
// model invocation logs for filtering (API_runtime_Converse, requestMetadata;
// API_RequestMetadataFilters gives the same lengths and character set for the
// filters that match them): at most 16 entries, keys of 1 to 256 and values of
// 0 to 256 characters, of letters, digits, white space and _ . : / = + - @ $ # ,
const (
	maxMetadataEntries = 16
	maxMetadataLen     = 256
)

var metadataChars = regexp.MustCompile(`^[a-zA-Z0-9\s._:/=+\-@$#,]*$`)

// Messages that convert and Check share.
const (
	msgImageURL          = "Bedrock needs inline images (data URLs); Tollgate fetches https image URLs only from the hosts of the deployment's IMAGE_FETCH_HOSTS"
	msgThinkingMaxTokens = "reasoning on this model needs max_tokens above 1024: its thinking budget must be at least 1024 tokens and below max_tokens"
)

func imageTypeMessage(mediaType string) string {
	return "Bedrock takes png, jpeg, gif and webp images, not " + quote(mediaType)
}

// serviceTiers are the service tiers Bedrock serves ("auto" leaves it to
// Bedrock; the others are Bedrock's ServiceTierType values).
var serviceTiers = []string{"", "auto", "default", "flex", "priority"}

// Check reports what Bedrock cannot do with req, before any call. Droppable
// issues name optional parameters Bedrock would ignore or cannot honour (see
// chat.Issue); the others make the request impossible on Bedrock, such as an
// image it would refuse. Params use OpenAI's names, and paths index req.Messages
// and each message's Parts.
func (c *Client) Check(req *chat.Request) []chat.Issue {
	if req == nil {
		return nil
	}
	var issues []chat.Issue
	drop := func(param, msg string) {
		issues = append(issues, chat.Issue{Param: param, Message: msg, Droppable: true})
	}
	refuse := func(param, msg string) {
		issues = append(issues, chat.Issue{Param: param, Message: msg})
	}

	if req.N > 1 {
		drop("n", "Bedrock gives one choice per request")
	}
	if req.Seed != nil {
		drop("seed", "Bedrock Converse takes no seed")
	}
	if req.PresencePenalty != nil {
		drop("presence_penalty", "Bedrock Converse takes no presence penalty")
	}
	if req.FrequencyPenalty != nil {
		drop("frequency_penalty", "Bedrock Converse takes no frequency penalty")
	}
	if len(req.LogitBias) > 0 {
		drop("logit_bias", "Bedrock Converse takes no logit bias")
	}
	if req.Logprobs {
		drop("logprobs", "Bedrock Converse returns no log probabilities")
	}
	if req.TopLogprobs != nil {
		drop("top_logprobs", "Bedrock Converse returns no log probabilities")
	}
	if req.Prediction != "" {
		drop("prediction", "Bedrock Converse takes no predicted output")
	}
	if req.Store != nil && *req.Store {
		drop("store", "Bedrock does not store completions")
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		drop("parallel_tool_calls", "Bedrock Converse cannot turn parallel tool calls off")
	}
	if !slices.Contains(serviceTiers, req.ServiceTier) {
		drop("service_tier", "Bedrock's service tiers are auto, default, flex and priority, not "+quote(req.ServiceTier))
	}

	toolBlocks := holdsToolBlocks(req.Messages)
	rf := req.ResponseFormat.Type
	answerTool := rf == chat.FormatJSONObject || (rf == chat.FormatJSONSchema && !nativeSchema(req.Model))
	for i := range req.Tools {
		if name := req.Tools[i].Name; !toolName.MatchString(name) {
			refuse(fmt.Sprintf("tools[%d].function.name", i), "Bedrock tool names are 1 to 64 letters, digits, _ and -, not "+quote(name))
		}
	}
	switch {
	case toolBlocks && len(req.Tools) == 0:
		refuse("tools", "Bedrock needs the tools of a conversation that holds tool calls or tool results")
	case toolBlocks && req.ToolChoice.Mode == chat.ToolChoiceNone:
		drop("tool_choice", "Bedrock has no tool_choice none and refuses a conversation with tool calls or results without its tools, so the tools stay on offer with tool_choice auto")
	}
	if answerTool && len(req.Tools) > 0 {
		drop("response_format", "this model has no native structured output on Bedrock; Tollgate forces a tool to get the JSON answer, so the request's own tools cannot be called")
	}

	if asksReasoning(req.ReasoningEffort) {
		think := thinkingOf(req.Model)
		_, isClaude := parseClaude(req.Model)
		forced := req.ToolChoice.Mode == chat.ToolChoiceRequired || req.ToolChoice.Mode == chat.ToolChoiceNamed || answerTool
		switch {
		case think == thinkNone:
			drop("reasoning_effort", fmt.Sprintf("model %q does not reason on request on Bedrock", req.Model))
		case isClaude && forced:
			drop("reasoning_effort", "Claude cannot think while it is forced to call a tool (tool_choice required or named, or a response_format Tollgate answers with a forced tool)")
		case think == thinkBudget && req.MaxTokens <= minThinkingBudget:
			refuse("max_tokens", msgThinkingMaxTokens)
		}
		if isClaude && think != thinkNone {
			if t := req.Temperature; t != nil && *t != 1 {
				drop("temperature", "Claude takes no temperature other than 1 while it thinks (reasoning_effort)")
			}
			if p := req.TopP; p != nil && *p < 0.95 {
				drop("top_p", "Claude takes no top_p below 0.95 while it thinks (reasoning_effort)")
			}
		}
	}

	for i := range req.Messages {
		issues = append(issues, checkImages(i, &req.Messages[i])...)
	}
	issues = append(issues, checkMetadata(req.Metadata)...)
	return issues
}

// holdsToolBlocks reports whether msgs hold tool calls or tool results.
func holdsToolBlocks(msgs []chat.Message) bool {
	for i := range msgs {
		for j := range msgs[i].Parts {
			switch msgs[i].Parts[j].Kind {
			case chat.PartToolCall, chat.PartToolResult:
				return true
			}
		}
	}
	return false
}

// checkImages reports the images of message i that Bedrock would refuse, in its
// parts and in its tool results.
func checkImages(i int, m *chat.Message) []chat.Issue {
	var issues []chat.Issue
	n := 0
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Kind {
		case chat.PartImage:
			n++
			if m.Role != chat.RoleUser {
				issues = append(issues, chat.Issue{Param: partPath(i, m.Parts, j), Message: "Bedrock takes images in user messages only, not in " + quote(m.Role) + " messages"})
				continue
			}
			issues = append(issues, checkImage(partPath(i, m.Parts, j), p.Image)...)
		case chat.PartToolResult:
			if p.ToolResult == nil {
				continue
			}
			for k := range p.ToolResult.Parts {
				if q := &p.ToolResult.Parts[k]; q.Kind == chat.PartImage {
					n++
					issues = append(issues, checkImage(fmt.Sprintf("%s.content[%d]", partPath(i, m.Parts, j), k), q.Image)...)
				}
			}
		}
	}
	if n > MaxImagesPerMessage {
		issues = append(issues, chat.Issue{
			Param:   fmt.Sprintf("messages[%d]", i),
			Message: fmt.Sprintf("Bedrock takes at most %d images in one message, not %d", MaxImagesPerMessage, n),
		})
	}
	return issues
}

// checkImage reports why Bedrock would refuse img, at path.
func checkImage(path string, img *chat.Image) []chat.Issue {
	issue := func(msg string) chat.Issue { return chat.Issue{Param: path, Message: msg} }
	switch {
	case img == nil:
		return []chat.Issue{issue("an image part without an image")}
	case len(img.Data) == 0:
		return []chat.Issue{issue(msgImageURL)}
	}
	var issues []chat.Issue
	if _, ok := imageFormats[img.MediaType]; !ok {
		issues = append(issues, issue(imageTypeMessage(img.MediaType)))
	}
	if len(img.Data) > MaxImageBytes {
		issues = append(issues, issue(fmt.Sprintf("the image has %d bytes; Bedrock takes at most 3.75 MB (%d bytes)", len(img.Data), MaxImageBytes)))
	}
	if img.Width > MaxImagePixels || img.Height > MaxImagePixels {
		issues = append(issues, issue(fmt.Sprintf("the image is %dx%d px; Bedrock takes at most %d px in width and height", img.Width, img.Height, MaxImagePixels)))
	}
	return issues
}

// checkMetadata reports metadata that Bedrock's requestMetadata cannot take.
func checkMetadata(md map[string]string) []chat.Issue {
	var issues []chat.Issue
	issue := func(msg string) { issues = append(issues, chat.Issue{Param: "metadata", Message: msg}) }
	if len(md) > maxMetadataEntries {
		issue(fmt.Sprintf("Bedrock takes at most %d metadata entries, not %d", maxMetadataEntries, len(md)))
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	const chars = "letters, digits, white space and _ . : / = + - @ $ # ,"
	for _, k := range keys {
		v := md[k]
		switch {
		case k == "" || len(k) > maxMetadataLen:
			issue(fmt.Sprintf("metadata key %s: Bedrock takes keys of 1 to %d characters", quote(k), maxMetadataLen))
		case !metadataChars.MatchString(k):
			issue(fmt.Sprintf("metadata key %s: Bedrock takes only %s", quote(k), chars))
		}
		switch {
		case len(v) > maxMetadataLen:
			issue(fmt.Sprintf("metadata value of %s: Bedrock takes values of at most %d characters", quote(k), maxMetadataLen))
		case !metadataChars.MatchString(v):
			issue(fmt.Sprintf("metadata value of %s: Bedrock takes only %s", quote(k), chars))
		}
	}
	return issues
}
