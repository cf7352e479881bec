from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField(unique=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharField(max_length=40)),
                ('actor_id', fields.BigIntField(null=True)),
                ('subject', fields.CharField(default='', max_length=80)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(unique=True, max_length=64)),
            ],
            options={'table': 'audit_events', 'app': 'identity', 'pk_attr': 'id', 'table_description': 'Append-only security event, chained to the previous one by hash.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditHead',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField(default=0)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_head', 'app': 'identity', 'pk_attr': 'id', 'table_description': 'The head of the chain, one row: locking it serialises appends across workers.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Enterprise',
            fields=[
                ('credit_code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=18)),
                ('name', fields.CharField(max_length=200)),
                ('region_code', fields.CharField(max_length=6)),
                ('legal_rep_index', fields.CharField(db_index=True, max_length=64)),
                ('legal_rep_name_enc', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'enterprises', 'app': 'identity', 'pk_attr': 'credit_code'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, db_index=True, max_length=64)),
                ('session_key_enc', fields.TextField(null=True, unique=False)),
                ('real_name_enc', fields.TextField(null=True, unique=False)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_index', fields.CharField(null=True, unique=True, max_length=64)),
                ('id_region_code', fields.CharField(null=True, max_length=6)),
                ('phone_enc', fields.TextField(null=True, unique=False)),
                ('phone_index', fields.CharField(null=True, db_index=True, max_length=64)),
                ('realname_verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('face_verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notify_on_licence_check', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'identity', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnterpriseAgent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enterprise', fields.ForeignKeyField('identity.Enterprise', source_field='enterprise_id', db_constraint=True, to_field='credit_code', related_name='agents', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='agencies', on_delete=OnDelete.CASCADE)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('granted_by', fields.ForeignKeyField('identity.User', source_field='granted_by_id', db_constraint=True, to_field='id', related_name='agent_grants', on_delete=OnDelete.CASCADE)),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'enterprise_agents', 'app': 'identity', 'pk_attr': 'id', 'table_description': 'A person the legal representative authorised to act for the enterprise.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FaceVerification',
            fields=[
                ('verify_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=256)),
                ('out_seq_no', fields.CharField(unique=True, max_length=32)),
                ('user', fields.ForeignKeyField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='face_verifications', on_delete=OnDelete.CASCADE)),
                ('cert_hash', fields.CharField(max_length=64)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('verify_ret', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'face_verifications', 'app': 'identity', 'pk_attr': 'verify_id', 'table_description': 'One WeChat face verification 2.0 attempt, tied to the identity bound at its start.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InspectorScope',
            fields=[
                ('user', fields.OneToOneField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='inspector_scope', on_delete=OnDelete.CASCADE)),
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('licence_types', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('regions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'inspector_scopes', 'app': 'identity', 'pk_attr': 'id', 'table_description': 'What an inspector may check: licence type codes and region codes (prefix match).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OperatorCredential',
            fields=[
                ('user', fields.OneToOneField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='operator_credential', on_delete=OnDelete.CASCADE)),
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('password_hash', fields.CharField(max_length=255)),
                ('failed_attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'operator_credentials', 'app': 'identity', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('family_id', fields.CharField(db_index=True, max_length=32)),
                ('user', fields.ForeignKeyField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'identity', 'pk_attr': 'id', 'table_description': 'One refresh token. A family is one login session, rotated on every refresh.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserRole',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('identity.User', source_field='user_id', db_constraint=True, to_field='id', related_name='role_grants', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=16)),
                ('granted_by_id', fields.BigIntField(null=True)),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'user_roles', 'app': 'identity', 'unique_together': (('user', 'role'),), 'pk_attr': 'id', 'table_description': 'Granted roles (operator, inspector). Resident is implicit, business is derived.'},
            bases=['Model'],
        ),
    ]
