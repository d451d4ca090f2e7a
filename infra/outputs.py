"""Stack output names: one list shared by the program, the automation and the tests."""

SERVICE_URL = "serviceUrl"
ALB_DNS_NAME = "albDnsName"
IMAGE_REF = "imageRef"
VERSION = "version"
CLUSTER_NAME = "clusterName"
SERVICE_NAME = "serviceName"
SERVICE_NAMES = "serviceNames"
"""Every ECS service behind the target group (capacity hybrid: two); serviceName is the
autoscaled one."""
CAPACITY = "capacity"
TARGET_GROUP_ARN = "targetGroupArn"
LOG_GROUP_NAME = "logGroupName"
REPOSITORY_URL = "repositoryUrl"
REGION = "region"
DOMAIN_NAME = "domainName"
HOSTED_ZONE_ID = "hostedZoneId"
ALB_ZONE_ID = "albZoneId"
ALARM_NAMES = "alarmNames"
SERVICE_SECURITY_GROUP_ID = "serviceSecurityGroupId"
HEALTH_CHECK_PATH = "healthCheckPath"
IMAGE_SOURCE = "imageSource"
"""BUILT (this program's build, or a rollback to one) or PREBUILT (the `image` config key)."""
DEPLOYMENT_STRATEGY = "deploymentStrategy"
"""rolling, canary, linear or blue_green (infra/rollout.py)."""
ROLLOUT_SECONDS = "rolloutSeconds"
"""The estimated length of a release at the stack's settings."""
ALTERNATE_TARGET_GROUP_ARN = "alternateTargetGroupArn"
"""The second target group of a strategy that shifts traffic; ECS swaps the two each release."""
BUILT = "built"
PREBUILT = "prebuilt"

ALL = (
    SERVICE_URL,
    ALB_DNS_NAME,
    IMAGE_REF,
    VERSION,
    CLUSTER_NAME,
    SERVICE_NAME,
    SERVICE_NAMES,
    CAPACITY,
    TARGET_GROUP_ARN,
    LOG_GROUP_NAME,
    REPOSITORY_URL,
    REGION,
    DOMAIN_NAME,
    HOSTED_ZONE_ID,
    ALB_ZONE_ID,
    ALARM_NAMES,
    SERVICE_SECURITY_GROUP_ID,
    HEALTH_CHECK_PATH,
    IMAGE_SOURCE,
    DEPLOYMENT_STRATEGY,
    ROLLOUT_SECONDS,
    ALTERNATE_TARGET_GROUP_ARN,
)
