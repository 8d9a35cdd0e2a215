"""Translate a SAM template into the CloudFormation template SAM would deploy.

Usage: python3 translate.py template.yaml > translated.json

It uses the SAM translator (aws-sam-translator) and the template decoder and
managed-policy list that cfn-lint ships, so it runs offline wherever cfn-lint
does. Unlike cfn-lint's own transform, it keeps the API's generated OpenAPI
body (the integrations), which is what tests/template checks.
"""
import json
import os
import sys

from cfnlint.data import Serverless
from cfnlint.decode import decode
from cfnlint.decode.utils import convert_dict
from cfnlint.helpers import load_resource
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator


def main(path):
    template, matches = decode(path)
    if matches:
        for match in matches:
            print(match, file=sys.stderr)
        return 2
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # The translator needs an S3 location; sam deploy uploads CodeUri there.
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translator = Translator(
        managed_policy_map=load_resource(Serverless, "ManagedPolicies.json"),
        sam_parser=parser.Parser(),
    )
    out = translator.translate(sam_template=template, parameter_values={}, passthrough_metadata=True)
    json.dump(convert_dict(out), sys.stdout, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
