"""Request signing against the providers' own published examples.

References: Alibaba Cloud SMS "signature method" page (SendSms example with AccessKeyId testId,
secret testSecret → zJDF+Lrzhj/ThnlvIToysFRq6t4=) and the RPC "signature mechanism" page
(DescribeRegions, testsecret → OLeaidS1JvxuMvnyHOwuJ+uX5qY=); Tencent Cloud "Signature v3"
page (CVM DescribeInstances, timestamp 1551113065 → 72e494ea…5168).
"""

from __future__ import annotations

import pytest

from careops.journeys.channels.sms_aliyun import percent_encode, rpc_signature, string_to_sign
from careops.journeys.channels.sms_tencent import tc3_signature, template_params

SMS_EXAMPLE = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_alibaba_sms_documented_example():
    assert rpc_signature(SMS_EXAMPLE, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert string_to_sign(SMS_EXAMPLE, "GET").startswith(
        "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123"
    )
    # a Signature already present is left out of what is signed
    with_sig = {**SMS_EXAMPLE, "Signature": "x"}
    assert rpc_signature(with_sig, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_alibaba_rpc_documented_example():
    params = {
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Version": "2014-05-26",
        "Timestamp": "2016-02-23T12:46:24Z",
    }
    assert rpc_signature(params, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert rpc_signature(params, "testsecret", "POST") != "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("~-_.", "~-_."),
        ("/=&+", "%2F%3D%26%2B"),
        ("派", "%E6%B4%BE"),
    ],
)
def test_alibaba_percent_encoding_rules(raw, encoded):
    assert percent_encode(raw) == encoded


def test_tencent_documented_example():
    payload = (
        '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    sig = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        payload=payload,
        host="cvm.tencentcloudapi.com",
        timestamp=1551113065,
        service="cvm",
    )
    assert sig == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_tencent_template_params_are_positional():
    assert template_params({"2": "b", "10": "c", "1": "a"}) == ["a", "b", "c"]
    assert template_params({"name": "王", "time": "9:00"}) == ["王", "9:00"]
