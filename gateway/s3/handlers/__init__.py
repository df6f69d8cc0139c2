"""Operation name → handler. Operations missing here answer 501 NotImplemented."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.s3.handlers import (
    bucket,
    bucket_config,
    list,
    multipart,
    object,
    post,
    versioning,
)
from gateway.s3.request import Reply, RequestContext

Handler = Callable[[RequestContext], Awaitable[Reply]]

HANDLERS: dict[str, Handler] = {
    "ListBuckets": bucket.list_buckets,
    "CreateBucket": bucket.create_bucket,
    "DeleteBucket": bucket.delete_bucket,
    "HeadBucket": bucket.head_bucket,
    "GetBucketLocation": bucket.get_bucket_location,
    "ListObjects": list.list_objects,
    "ListObjectsV2": list.list_objects_v2,
    "PostObject": post.post_object,
    "PutObject": object.put_object,
    "GetObject": object.get_object,
    "HeadObject": object.head_object,
    "DeleteObject": object.delete_object,
    "DeleteObjects": object.delete_objects,
    "CreateMultipartUpload": multipart.create_multipart_upload,
    "UploadPart": multipart.upload_part,
    "UploadPartCopy": multipart.upload_part_copy,
    "CompleteMultipartUpload": multipart.complete_multipart_upload,
    "AbortMultipartUpload": multipart.abort_multipart_upload,
    "ListParts": multipart.list_parts,
    "ListMultipartUploads": multipart.list_multipart_uploads,
    "ListObjectVersions": versioning.list_object_versions,
    "GetBucketVersioning": versioning.get_bucket_versioning,
    "PutBucketVersioning": versioning.put_bucket_versioning,
    "GetBucketAcl": bucket.get_bucket_acl,
    "PutBucketAcl": bucket.put_bucket_acl,
    "GetObjectAcl": object.get_object_acl,
    "PutObjectAcl": object.put_object_acl,
    "CopyObject": object.copy_object,
    "GetObjectTagging": object.get_object_tagging,
    "PutObjectTagging": object.put_object_tagging,
    "DeleteObjectTagging": object.delete_object_tagging,
    "GetBucketTagging": bucket_config.get_bucket_tagging,
    "PutBucketTagging": bucket_config.put_bucket_tagging,
    "DeleteBucketTagging": bucket_config.delete_bucket_tagging,
    "GetBucketCors": bucket_config.get_bucket_cors,
    "PutBucketCors": bucket_config.put_bucket_cors,
    "DeleteBucketCors": bucket_config.delete_bucket_cors,
    "GetBucketPolicy": bucket_config.get_bucket_policy,
    "PutBucketPolicy": bucket_config.put_bucket_policy,
    "DeleteBucketPolicy": bucket_config.delete_bucket_policy,
    "GetBucketPolicyStatus": bucket_config.get_bucket_policy_status,
    "GetObjectAttributes": object.get_object_attributes,
    "GetBucketLifecycleConfiguration": bucket_config.get_bucket_lifecycle_configuration,
    "PutBucketLifecycleConfiguration": bucket_config.put_bucket_lifecycle_configuration,
    "DeleteBucketLifecycle": bucket_config.delete_bucket_lifecycle,
    "GetPublicAccessBlock": bucket_config.get_public_access_block,
    "PutPublicAccessBlock": bucket_config.put_public_access_block,
    "DeletePublicAccessBlock": bucket_config.delete_public_access_block,
    "GetBucketOwnershipControls": bucket_config.get_bucket_ownership_controls,
    "PutBucketOwnershipControls": bucket_config.put_bucket_ownership_controls,
    "DeleteBucketOwnershipControls": bucket_config.delete_bucket_ownership_controls,
    "PreflightRequest": bucket_config.preflight_request,
}
