#!/usr/bin/env sh
# Every route of a running `keel up` (npm start), for the credit model. BASE defaults to the
# local API; against AWS, sign the requests (the API uses IAM auth), e.g. with awscurl.
set -eu
BASE=${BASE:-http://127.0.0.1:3000}
JSON='content-type: application/json'

# Health and model metadata (Open Inference Protocol v2).
curl -s "$BASE/v2/health/live"; echo
curl -s "$BASE/v2/health/ready"; echo
curl -s "$BASE/v2/models/credit"; echo
curl -s "$BASE/v2/models/credit/ready"; echo

# A prediction, plain JSON: one id per prediction, for the outcome later.
curl -s -H "$JSON" "$BASE/v1/models/credit:predict" -d '{
  "instances": [
    {"income": 3200, "debt": 1800, "late_payments": 2, "loan_amount": 12000, "employment": "salaried", "region": "north"},
    {"income": null, "debt": 400, "late_payments": 0, "loan_amount": 5000, "employment": "retired", "region": "west"}
  ]
}'; echo

# The same through Open Inference Protocol v2: one tensor per input.
V2='{
  "inputs": [
    {"name": "income", "datatype": "FP32", "shape": [1], "data": [3200]},
    {"name": "debt", "datatype": "FP32", "shape": [1], "data": [1800]},
    {"name": "late_payments", "datatype": "FP32", "shape": [1], "data": [2]},
    {"name": "loan_amount", "datatype": "FP32", "shape": [1], "data": [12000]},
    {"name": "employment", "datatype": "BYTES", "shape": [1], "data": ["salaried"]},
    {"name": "region", "datatype": "BYTES", "shape": [1], "data": ["north"]}
  ]
}'
curl -s -H "$JSON" "$BASE/v2/models/credit/infer" -d "$V2"; echo

# A pinned version: one the function serves (v1 after a fresh start; a 404 names the one it serves).
curl -s -H "$JSON" "$BASE/v2/models/credit/versions/1/infer" -d "$V2"; echo

# The outcome of an earlier prediction, when it is known (put a real prediction_id here).
ID=$(curl -s -H "$JSON" "$BASE/v1/models/credit:predict" \
  -d '{"instances":[{"income":2500,"debt":2600,"late_payments":4,"loan_amount":9000,"employment":"self-employed","region":"south"}]}' |
  sed -n 's/.*"prediction_id":"\([^"]*\)".*/\1/p')
curl -s -H "$JSON" "$BASE/v1/models/credit/feedback" -d "{\"prediction_id\": \"$ID\", \"outcome\": 1}"; echo

# Why: each prediction with its SHAP values of the log-odds, per raw column (captured with its id).
curl -s -H "$JSON" "$BASE/v1/models/credit:explain" \
  -d '{"instances":[{"income":2500,"debt":2600,"late_payments":4,"loan_amount":9000,"employment":"self-employed","region":"south"}]}'; echo

# A caller's mistake is a 400 with every bad field.
curl -s -H "$JSON" "$BASE/v1/models/credit:predict" -d '{"instances":[{"income":"a lot"}]}'; echo

# Retraining candidates waiting for a human (empty unless gates.requireApproval is set).
curl -s "$BASE/v1/approvals"; echo
