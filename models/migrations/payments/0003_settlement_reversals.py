from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('payments', '0002_reconciliation_started_at')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SettlementReversal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.OneToOneField('payments.PaymentOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='reversal', on_delete=OnDelete.CASCADE)),
                ('reversal_id', fields.CharField(unique=True, max_length=40)),
                ('settlement_id', fields.CharField(max_length=40)),
                ('amount', fields.BigIntField()),
                ('reason', fields.CharField(max_length=80)),
                ('status', fields.CharField(db_index=True, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=255)),
                ('requested_by', fields.BigIntField(null=True)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('voided_receipt_no', fields.CharField(null=True, max_length=40)),
            ],
            options={'table': 'payment_settlement_reversals', 'app': 'payments', 'pk_attr': 'id', 'table_description': 'The request to the agency to reverse (冲正) a settlement before a settled payment is refunded.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='PaymentReceipt',
            name='voided_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name='PaymentRefund',
            name='status',
            field=fields.CharField(db_index=True, max_length=24),
        ),
        ops.AddField(
            model_name='PaymentRefund',
            name='failure_code',
            field=fields.CharField(null=True, max_length=40),
        ),
    ]
