"""Pulumi type tokens of the resources the program declares: one list shared by the offline
engine, the plan's readers (cost, checks, diagram, plan table), the policy rules and the tests.

Standard library only, like `infra/outputs.py`: `policy/rules.py` imports it in the policy pack's
own virtual environment. A token misspelt here would make a reader silently find nothing, so
tests/automation/insights/test_resource_types.py keeps this list equal to what the stacks plan.
"""

# Network
VPC = "awsx:ec2:Vpc"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"

# Load balancer
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
LOG_RESOURCE_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"

# The load balancer's access logs
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"

# The service's own name
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
DNS_RECORD = "aws:route53/record:Record"

# Image
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
IMAGE = "docker:index/image:Image"

# Service
CLUSTER = "aws:ecs/cluster:Cluster"
CAPACITY_PROVIDERS = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SCALABLE_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# EC2 capacity (capacity ec2 or hybrid)
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
ECS_CAPACITY_PROVIDER = "aws:ecs/capacityProvider:CapacityProvider"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"

# Sleeping outside working hours (schedule)
SCHEDULED_ACTION = "aws:appautoscaling/scheduledAction:ScheduledAction"
SCHEDULE = "aws:scheduler/schedule:Schedule"

# Database
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
RANDOM_ID = "random:index/randomId:RandomId"

DECLARED = (
    VPC,
    SECURITY_GROUP,
    INGRESS_RULE,
    EGRESS_RULE,
    LOAD_BALANCER,
    TARGET_GROUP,
    LISTENER,
    LISTENER_RULE,
    WEB_ACL,
    WEB_ACL_ASSOCIATION,
    WEB_ACL_LOGGING,
    LOG_RESOURCE_POLICY,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_OWNERSHIP,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    CERTIFICATE,
    CERTIFICATE_VALIDATION,
    DNS_RECORD,
    REPOSITORY,
    LIFECYCLE_POLICY,
    IMAGE,
    CLUSTER,
    CAPACITY_PROVIDERS,
    SERVICE,
    TASK_DEFINITION,
    LOG_GROUP,
    ROLE,
    ROLE_POLICY,
    SCALABLE_TARGET,
    SCALING_POLICY,
    METRIC_ALARM,
    RDS_INSTANCE,
    RDS_SUBNET_GROUP,
    RANDOM_ID,
    LAUNCH_TEMPLATE,
    AUTOSCALING_GROUP,
    ECS_CAPACITY_PROVIDER,
    INSTANCE_PROFILE,
    SCHEDULED_ACTION,
    SCHEDULE,
)
"""Every type the program declares in one stack configuration or another."""

STACK = "pulumi:pulumi:Stack"
"""The root of every stack's resources (the engine's, not the program's)."""

# Not declared by the program, but guarded by the policy rules: other ways to write the same
# resources (an inline-rule security group's rules, the older provider module names).
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LOAD_BALANCER_ALIAS = "aws:elasticloadbalancingv2/loadBalancer:LoadBalancer"
LISTENER_ALIAS = "aws:elasticloadbalancingv2/listener:Listener"
# No longer declared: the capacity instances' role holds a policy of its own
# (infra/capacity.py), not AWS's managed one attached.
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
