package template_test

import (
	"fmt"
	"strings"
	"testing"
)

// evaluator resolves a template's intrinsic functions for one set of parameter
// values, as CloudFormation would at deploy time. Resources resolve to
// placeholders: Ref Table is "tollgate-Table-PLACEHOLDER".
type evaluator struct {
	tmpl   m
	params map[string]string
}

// Pseudo parameters as the evaluator resolves them.
var pseudo = map[string]string{
	"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "tollgate",
	"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
}

// newEvaluator uses the parameters' defaults, overridden by overrides.
func newEvaluator(t *testing.T, tmpl m, overrides map[string]string) *evaluator {
	t.Helper()
	e := &evaluator{tmpl: tmpl, params: map[string]string{}}
	for name, p := range getMap(tmpl, "Parameters") {
		if d := get(p, "Default"); d != nil {
			e.params[name] = fmt.Sprint(d)
		}
	}
	for k, v := range overrides {
		if get(tmpl, "Parameters", k) == nil {
			t.Fatalf("no parameter %s", k)
		}
		e.params[k] = v
	}
	return e
}

// cond evaluates the named condition.
func (e *evaluator) cond(t *testing.T, name string) bool {
	t.Helper()
	c := get(e.tmpl, "Conditions", name)
	if c == nil {
		t.Fatalf("no condition %s", name)
	}
	return e.boolean(t, c)
}

func (e *evaluator) boolean(t *testing.T, v any) bool {
	t.Helper()
	mm, _ := v.(m)
	if len(mm) != 1 {
		t.Fatalf("not a condition: %v", v)
	}
	for fn, arg := range mm {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return e.cond(t, arg.(string))
		case "Fn::Equals":
			a, _ := e.value(t, args[0])
			b, _ := e.value(t, args[1])
			return fmt.Sprint(a) == fmt.Sprint(b)
		case "Fn::Not":
			return !e.boolean(t, args[0])
		case "Fn::And", "Fn::Or":
			for _, a := range args {
				if e.boolean(t, a) == (fn == "Fn::Or") {
					return fn == "Fn::Or"
				}
			}
			return fn == "Fn::And"
		}
	}
	t.Fatalf("unsupported condition %v", v)
	return false
}

// value resolves v; ok is false when it is AWS::NoValue (the property is absent).
func (e *evaluator) value(t *testing.T, v any) (_ any, ok bool) {
	t.Helper()
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, x := range v {
			if r, ok := e.value(t, x); ok {
				out = append(out, r)
			}
		}
		return out, true
	case m:
		if len(v) == 1 {
			for fn, arg := range v {
				switch fn {
				case "Ref":
					name := arg.(string)
					if name == "AWS::NoValue" {
						return nil, false
					}
					return e.ref(t, name), true
				case "Fn::If":
					args := arg.([]any)
					if e.cond(t, args[0].(string)) {
						return e.value(t, args[1])
					}
					return e.value(t, args[2])
				case "Fn::Sub":
					s, ok := arg.(string)
					if !ok {
						t.Fatalf("only the string form of Fn::Sub is supported: %v", arg)
					}
					return subRef.ReplaceAllStringFunc(s, func(x string) string {
						name := x[2 : len(x)-1]
						if strings.HasPrefix(name, "!") {
							return "${" + name[1:] + "}"
						}
						if r, attr, ok := strings.Cut(name, "."); ok {
							return e.getAtt(t, r, attr)
						}
						return e.ref(t, name)
					}), true
				case "Fn::GetAtt":
					r, a := getAtt(v)
					return e.getAtt(t, r, a), true
				}
			}
		}
		out := m{}
		for k, x := range v {
			if r, ok := e.value(t, x); ok {
				out[k] = r
			}
		}
		return out, true
	default:
		return v, true
	}
}

func (e *evaluator) ref(t *testing.T, name string) string {
	t.Helper()
	if v, ok := e.params[name]; ok {
		return v
	}
	if v, ok := pseudo[name]; ok {
		return v
	}
	if get(e.tmpl, "Resources", name) != nil {
		return "tollgate-" + name + "-PLACEHOLDER"
	}
	t.Fatalf("Ref to unknown %s", name)
	return ""
}

func (e *evaluator) getAtt(t *testing.T, res, attr string) string {
	t.Helper()
	if get(e.tmpl, "Resources", res) == nil {
		t.Fatalf("GetAtt of unknown resource %s", res)
	}
	switch typ := getString(e.tmpl, "Resources", res, "Type"); {
	case typ == "AWS::S3Vectors::VectorBucket" && attr == "VectorBucketArn":
		return "arn:aws:s3vectors:us-east-1:123456789012:bucket/tollgate-" + strings.ToLower(res) + "-placeholder"
	case typ == "AWS::SQS::Queue" && attr == "Arn":
		return "arn:aws:sqs:us-east-1:123456789012:tollgate-" + res + "-PLACEHOLDER"
	}
	return "arn:aws:placeholder:us-east-1:123456789012:" + res + "/" + attr
}

// env returns the environment of a function as deployed with e's parameters.
func (e *evaluator) env(t *testing.T, fn m) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range fnEnv(e.tmpl, fn) {
		if r, ok := e.value(t, v); ok {
			out[k] = fmt.Sprint(r)
		}
	}
	return out
}
