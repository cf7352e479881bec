from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('payments', '0001_initial')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='ReconciliationRun',
            name='started_at',
            field=fields.DatetimeField(auto_now=False, auto_now_add=False),
        ),
    ]
