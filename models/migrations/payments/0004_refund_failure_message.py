from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('payments', '0003_settlement_reversals')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PaymentRefund',
            name='failure_message',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
